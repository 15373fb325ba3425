// Package features turns raw records into the feature vectors Flint's
// algorithms train on, and does it the same way at training and at
// prediction time.
//
// A Schema names the fields of a record (numeric, categorical, text, vector,
// timestamp; the label and an optional weight) and how records are encoded:
// JSON objects, CSV lines, LIBSVM lines or raw little-endian float vectors.
// Whatever the format, a record may also be a binary record (binary.go;
// flint ingest --encode writes them): a label and the numeric and vector
// fields as little-endian float32s or float64s, recognised by its first
// byte and decoded without parsing.
// Decoding a record that does not fit the schema returns a *FieldError
// naming the field at fault; the caller adds where the record was (topic,
// partition and offset, or file and line).
//
// One set of setters turns a raw value into a field's value (SetNumber,
// given a JSON number's literal text; SetString; SetBool; SetNull). The
// schema decoder, DecodeMap and serving's JSON scanners all call them, so a
// value decodes to the same bits at training and at serving. One JSON field
// decoder, ScanValue, reads a value off the shared scanner
// (internal/jsonscan) into a field: Schema.Decode scans JSON records with
// it straight into the row, and serving scans request rows with it. A
// number sent
// for a categorical field is the category of its canonical text
// (NumberCategory: the exact decimal value, no exponent, no trailing
// zeros: 7.0 is "7", 1e2 is "100", 0.10 is "0.1"); a string is taken as
// written. CSV cells have no types: a categorical cell is its text.
//
// A Pipeline is a list of transforms — imputer, standard and min-max
// scalers, one-hot and ordinal encoders, feature hashing, bucketizer,
// quantile discretiser, polynomial expansion, hashed TF-IDF — ending in an
// assembler that concatenates columns into one vector. Fit learns every
// transform's parameters from the training data as aggregations on the
// engine (cluster.Scan over the job's sources, one pass per level of
// dependent transforms), so a fit over a log topic reads the data where it
// lives. The fitted pipeline encodes itself (versioned JSON) and is stored
// with the model, so serving applies exactly the transformation training
// did.
//
// The fitted pipeline also registers itself with the engine as the
// "features.pipeline" row decoder, so a dataset is cached straight from raw
// records as feature vectors.
package features
