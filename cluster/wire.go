package cluster

import (
	"bytes"
	"context"
	"encoding/gob"
	"fmt"
)

// This file exports what an executor running tasks in other processes needs:
// the task codecs by name, running a task on one partition with its partial
// encoded, and a Dataset handle for rows that live elsewhere.

// EncodeBroadcast encodes a broadcast value of the named task for the wire.
func EncodeBroadcast(task string, b any) ([]byte, error) {
	t, err := lookupTask(task)
	if err != nil {
		return nil, err
	}
	data, err := t.encodeBroadcast(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: task %s: encode broadcast: %w", task, err)
	}
	return data, nil
}

// DecodeBroadcast decodes what EncodeBroadcast produced, in the worker.
func DecodeBroadcast(task string, data []byte) (any, error) {
	t, err := lookupTask(task)
	if err != nil {
		return nil, err
	}
	return t.decodeBroadcast(data)
}

// RunTaskEncoded runs the named task on one partition with a broadcast value
// DecodeBroadcast returned, and encodes the partial for the wire. The
// broadcast value may be shared by concurrent calls (Map must not modify it).
func RunTaskEncoded(ctx context.Context, task string, part Part, b any) ([]byte, error) {
	t, err := lookupTask(task)
	if err != nil {
		return nil, err
	}
	p, err := t.run(ctx, part, b)
	if err != nil {
		return nil, err
	}
	data, err := t.encodePartial(p)
	if err != nil {
		return nil, fmt.Errorf("cluster: task %s: encode partial of partition %d: %w", task, part.Index, err)
	}
	return data, nil
}

// DecodePartial decodes a partial RunTaskEncoded produced, in the driver.
// The result has the dynamic type Aggregate expects of MapPartitions.
func DecodePartial(task string, data []byte) (any, error) {
	t, err := lookupTask(task)
	if err != nil {
		return nil, err
	}
	return t.decodePartial(data)
}

// NewDatasetHandle returns a handle on a dataset whose partitions are cached
// by another executor (for instance in worker processes): the name, the
// unified width and layout, and one entry per partition (Index is set from
// the position). The handle gets a fresh identity.
func NewDatasetHandle(name string, cols int, sparse bool, parts []PartitionStats) *Dataset {
	ps := append([]PartitionStats(nil), parts...)
	for i := range ps {
		ps[i].Index = i
	}
	return &Dataset{id: datasetIDs.Add(1), name: name, cols: cols, sparse: sparse, parts: ps}
}

// scanCodec is what a scan task needs to cross a process boundary.
type scanCodec interface {
	scanEntry
	encodeArg(b any) ([]byte, error)
	decodeArg(data []byte) (any, error)
	encodePartial(p any) ([]byte, error)
	decodePartial(data []byte) (any, error)
}

func (t *ScanTask[B, P]) encodeArg(b any) ([]byte, error)     { return gobEncode(b) }
func (t *ScanTask[B, P]) encodePartial(p any) ([]byte, error) { return gobEncode(p) }

func (t *ScanTask[B, P]) decodeArg(data []byte) (any, error) {
	b := new(B)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(b); err != nil {
		return nil, fmt.Errorf("cluster: scan %s: decode argument: %w", t.Name, err)
	}
	return b, nil
}

func (t *ScanTask[B, P]) decodePartial(data []byte) (any, error) {
	p := new(P)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(p); err != nil {
		return nil, fmt.Errorf("cluster: scan %s: decode partial: %w", t.Name, err)
	}
	return p, nil
}

func lookupScan(name string) (scanCodec, error) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := scans[name]
	if !ok {
		return nil, fmt.Errorf("cluster: unknown scan task %q (is the package that registers it linked into this binary?)", name)
	}
	return t.(scanCodec), nil
}

// EncodeScanArg encodes the argument of the named scan task for the wire.
func EncodeScanArg(task string, b any) ([]byte, error) {
	t, err := lookupScan(task)
	if err != nil {
		return nil, err
	}
	data, err := t.encodeArg(b)
	if err != nil {
		return nil, fmt.Errorf("cluster: scan %s: encode argument: %w", task, err)
	}
	return data, nil
}

// ScanEncoded runs the named scan task over one source with an argument
// EncodeScanArg produced, and encodes the partial for the wire. l may be nil
// for file sources.
func ScanEncoded(ctx context.Context, task string, l LogReader, s Source, arg []byte) ([]byte, error) {
	t, err := lookupScan(task)
	if err != nil {
		return nil, err
	}
	b, err := t.decodeArg(arg)
	if err != nil {
		return nil, err
	}
	p, err := t.scan(ctx, l, s, b)
	if err != nil {
		return nil, err
	}
	data, err := t.encodePartial(p)
	if err != nil {
		return nil, fmt.Errorf("cluster: scan %s: encode partial of %s: %w", task, s, err)
	}
	return data, nil
}

// DecodeScanPartial decodes a partial ScanEncoded produced. The result has
// the dynamic type Scan expects of ScanSources.
func DecodeScanPartial(task string, data []byte) (any, error) {
	t, err := lookupScan(task)
	if err != nil {
		return nil, err
	}
	return t.decodePartial(data)
}

func (t *Transform[A]) encodeArg(a any) ([]byte, error) { return gobEncode(a) }

func (t *Transform[A]) decodeArg(data []byte) (any, error) {
	a := new(A)
	if err := gob.NewDecoder(bytes.NewReader(data)).Decode(a); err != nil {
		return nil, fmt.Errorf("cluster: transform %s: decode argument: %w", t.Name, err)
	}
	return a, nil
}

// transformCodec is what a transform needs to cross a process boundary.
type transformCodec interface {
	apply(ctx context.Context, part Part, arg any) (*Block, error)
	encodeArg(a any) ([]byte, error)
	decodeArg(data []byte) (any, error)
}

func lookupTransform(name string) (transformCodec, error) {
	registry.RLock()
	defer registry.RUnlock()
	t, ok := transforms[name]
	if !ok {
		return nil, fmt.Errorf("cluster: unknown transform %q (is the package that registers it linked into this binary?)", name)
	}
	c, ok := t.(transformCodec)
	if !ok {
		return nil, fmt.Errorf("cluster: transform %q is malformed", name)
	}
	return c, nil
}

// EncodeTransformArg encodes the argument of the named transform for the wire.
func EncodeTransformArg(transform string, arg any) ([]byte, error) {
	t, err := lookupTransform(transform)
	if err != nil {
		return nil, err
	}
	data, err := t.encodeArg(arg)
	if err != nil {
		return nil, fmt.Errorf("cluster: transform %s: encode argument: %w", transform, err)
	}
	return data, nil
}

// ApplyTransformEncoded applies the named transform to one partition with an
// argument EncodeTransformArg produced. The result is validated.
func ApplyTransformEncoded(ctx context.Context, transform string, part Part, arg []byte) (*Block, error) {
	t, err := lookupTransform(transform)
	if err != nil {
		return nil, err
	}
	a, err := t.decodeArg(arg)
	if err != nil {
		return nil, err
	}
	b, err := t.apply(ctx, part, a)
	if err != nil {
		return nil, fmt.Errorf("transform %s on partition %d: %w", transform, part.Index, err)
	}
	if err := b.Validate(); err != nil {
		return nil, fmt.Errorf("transform %s on partition %d: %w", transform, part.Index, err)
	}
	return b, nil
}
