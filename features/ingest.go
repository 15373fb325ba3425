package features

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/flintml/flint/log"
)

// Appender is the part of log.Log ingestion needs.
type Appender interface {
	Append(ctx context.Context, topic string, recs []log.Record) error
}

// IngestOptions configures Ingest.
type IngestOptions struct {
	// Schema validates every line before anything is appended.
	Schema Schema
	// Topic receives the records.
	Topic string
	// Key names the field whose text keys each record (so records with the
	// same key share a partition). Empty: unkeyed.
	Key string
	// Name is what errors call the input, e.g. a file name or "stdin".
	Name string
	// Header skips the first line (CSV).
	Header bool
	// SkipBad skips lines that do not fit the schema, counting them, instead
	// of stopping at the first.
	SkipBad bool
	// Batch is the number of records per append; 0 means 1000.
	Batch int
	// Progress, when set, is called after every acknowledged batch with the
	// running total of appended records.
	Progress func(appended int64)
	// Encode, when set, appends each line as a binary record of that
	// encoding (Schema.AppendBinary) instead of as its text: the schema's
	// fields other than the label must be numeric or vectors. Zero appends
	// the lines as they are.
	Encode Encoding
}

// IngestReport says what Ingest did.
type IngestReport struct {
	Lines    int64    // lines read (blank lines and the header excluded)
	Appended int64    // records acknowledged by the log
	Skipped  int64    // bad lines skipped (SkipBad)
	Examples []string // the first few skipped lines' errors
}

// LineError is a line that does not fit the schema.
type LineError struct {
	Name string
	Line int64
	Err  error
}

func (e *LineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.Name, e.Line, e.Err) }
func (e *LineError) Unwrap() error { return e.Err }

// Ingest reads one record per line from r, validates each against the
// schema, and appends them to the topic in batches. A line that does not
// fit stops the ingest with a *LineError naming the line and field (unless
// SkipBad); every batch before it stays appended, and the report says how
// many records were acknowledged.
func Ingest(ctx context.Context, l Appender, r io.Reader, opt IngestOptions) (IngestReport, error) {
	var rep IngestReport
	key, err := opt.check()
	if err != nil {
		return rep, err
	}
	batchSize := opt.Batch
	if batchSize <= 0 {
		batchSize = 1000
	}
	name := opt.Name
	if name == "" {
		name = "input"
	}
	row := opt.Schema.NewRow()
	var enc []byte // the binary record of a line (Encode)
	batch := make([]log.Record, 0, batchSize)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := l.Append(ctx, opt.Topic, batch); err != nil {
			return fmt.Errorf("features: ingest %s: append to %s: %w (%d records before this batch were acknowledged)", name, opt.Topic, err, rep.Appended)
		}
		rep.Appended += int64(len(batch))
		batch = batch[:0]
		if opt.Progress != nil {
			opt.Progress(rep.Appended)
		}
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	var lineNo int64
	for sc.Scan() {
		lineNo++
		line := sc.Bytes()
		if (lineNo == 1 && opt.Header) || len(trimSpace(line)) == 0 {
			continue
		}
		rep.Lines++
		value := line
		err := opt.Schema.Decode(row, line)
		if err == nil && opt.Encode != 0 {
			enc, err = opt.Schema.AppendBinary(enc[:0], row, opt.Encode)
			value = enc
		}
		if err != nil {
			le := &LineError{Name: name, Line: lineNo, Err: err}
			if !opt.SkipBad {
				if ferr := flush(); ferr != nil {
					return rep, ferr
				}
				return rep, fmt.Errorf("features: ingest %w (%d records before it were acknowledged)", le, rep.Appended)
			}
			rep.Skipped++
			if len(rep.Examples) < 5 {
				rep.Examples = append(rep.Examples, le.Error())
			}
			continue
		}
		rec := log.Record{Value: append([]byte(nil), value...)}
		if key >= 0 {
			rec.Key = []byte(KeyText(row[key], opt.Schema.Fields[key]))
		}
		batch = append(batch, rec)
		if len(batch) == batchSize {
			if err := flush(); err != nil {
				return rep, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if ferr := flush(); ferr != nil {
			return rep, ferr
		}
		return rep, fmt.Errorf("features: ingest %s: line %d: %w (%d records before it were acknowledged)", name, lineNo+1, err, rep.Appended)
	}
	return rep, flush()
}

// check validates the options and returns the index of the key field (-1
// for none).
func (opt *IngestOptions) check() (int, error) {
	if err := opt.Schema.Validate(); err != nil {
		return -1, fmt.Errorf("features: ingest schema: %w", err)
	}
	if err := log.ValidTopicName(opt.Topic); err != nil {
		return -1, err
	}
	key := -1
	if opt.Key != "" {
		if key = opt.Schema.Index(opt.Key); key < 0 {
			return -1, fmt.Errorf("features: ingest: key field %q is not in the schema", opt.Key)
		}
		if t := opt.Schema.Fields[key].Type; t == Vector {
			return -1, fmt.Errorf("features: ingest: key field %q is a vector", opt.Key)
		}
	}
	if opt.Schema.format() == "vector" {
		return -1, errors.New("features: ingest reads text lines; the vector format is binary")
	}
	if opt.Encode != 0 {
		if opt.Encode != Float32 && opt.Encode != Float64 {
			return -1, fmt.Errorf("features: ingest: %v is not a binary encoding", opt.Encode)
		}
		if _, err := opt.Schema.BinaryWidth(); err != nil {
			return -1, fmt.Errorf("features: ingest as %s binary records: %v", opt.Encode, err)
		}
	}
	return key, nil
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// KeyText is the text a record is keyed by when its field f, of value v,
// keys it: the text of a categorical or text field, the shortest form of a
// number (as a number becomes a category). flint ingest --key, the HTTP
// ingest endpoint, the feature processor and the server all key by it, so
// a key's records share a partition and its state is found again.
func KeyText(v Value, f Field) string {
	if f.Type == Numeric || f.Type == Timestamp {
		return formatCategory(v.Num)
	}
	return v.Str
}
