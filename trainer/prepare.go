package trainer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/flintml/flint/cluster"
	"github.com/flintml/flint/features"
	"github.com/flintml/flint/ml/als"
)

// prepare turns the pinned records into the algorithm's data: the job's
// records, and evaluation.test's (nil without one). Bad records are
// failed, skipped or dead-lettered as on_bad_record says, in both.
func (j *job) prepare(ctx context.Context, a algo, env *fitEnv, sources, testSources []cluster.Source, res *Result) (all, test data, err error) {
	if a.input() == ratingRows {
		return j.prepareRatings(ctx, a.(*ALSParams), env, sources, testSources, res)
	}
	return j.prepareRows(ctx, env, sources, testSources, res)
}

func (j *job) skipBad() bool {
	return j.spec.OnBadRecord == "skip" || j.spec.OnBadRecord == "dead_letter"
}

// prepareRows fits the feature transforms on the job's records (never on
// evaluation.test's) and caches the feature rows of both.
func (j *job) prepareRows(ctx context.Context, env *fitEnv, sources, testSources []cluster.Source, res *Result) (data, data, error) {
	spec := j.spec
	if f := spec.Features; f != nil {
		e, def, err := f.enrichment()
		if err != nil {
			return nil, nil, err
		}
		if err := checkFeatures(spec.Schema, def, e); err != nil {
			return nil, nil, err
		}
		env.features = &e
	}
	pipe, err := features.New(spec.Schema, spec.Transforms)
	if err != nil {
		return nil, nil, fmt.Errorf("trainer: %w", err)
	}
	var all data
	if pipe.CachedFit() {
		if all, err = j.prepareCached(ctx, pipe, env, sources, testSources, res); err != nil {
			return nil, nil, err
		}
	} else if all, err = j.prepareScanned(ctx, pipe, env, sources, testSources, res); err != nil {
		return nil, nil, err
	}
	if testSources == nil {
		return all, nil, nil
	}
	format, err := pipe.Format(j.skipBad())
	if err != nil {
		return nil, nil, err
	}
	withFormat(testSources, format)
	tds, err := j.load(ctx, spec.Name+"[test]", testSources)
	if err != nil {
		return nil, nil, err
	}
	res.Rows, res.Skipped = res.Rows+tds.Rows(), res.Skipped+tds.Skipped()
	if tds.Rows() == 0 {
		if h := spec.Promote; h != nil {
			return nil, nil, fmt.Errorf("trainer: promote.holdout (%s) holds no valid records to compare the versions on", h.Holdout.String())
		}
		return nil, nil, errors.New("trainer: evaluation.test holds no valid records")
	}
	return all, rowsData{j.engine, tds}, nil
}

// withFormat sets the format of every source, keeping its header flag.
func withFormat(src []cluster.Source, format cluster.Format) {
	for i := range src {
		header := src[i].Format.Header
		src[i].Format = format
		src[i].Format.Header = header
	}
}

// prepareCached parses the job's records once: it caches their raw field
// values, fits the transforms from the cached rows and turns them into
// feature rows in place (features.Pipeline.CachedFit says when it may).
func (j *job) prepareCached(ctx context.Context, pipe *features.Pipeline, env *fitEnv, sources, testSources []cluster.Source, res *Result) (data, error) {
	spec := j.spec
	j.obs.Phase("caching decoded rows")
	raw, err := pipe.RawFormat(j.skipBad())
	if err != nil {
		return nil, err
	}
	withFormat(sources, raw)
	rds, err := j.load(ctx, spec.Name+"[raw]", sources)
	if err != nil {
		return nil, err
	}
	defer j.engine.Drop(rds) // the feature rows take its memory over
	if rds.Rows() == 0 {
		return nil, errors.New("trainer: the source holds no valid records")
	}
	j.obs.Phase("fitting feature transforms")
	fitRep, err := pipe.FitCached(ctx, j.engine, rds)
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	if fitRep.Bad > 0 {
		j.log.Warn("trainer: skipping records that do not fit the schema", "count", fitRep.Bad)
	}
	env.pipe = pipe
	if err := j.deadLetters(ctx, spec.Schema, res, sources, testSources); err != nil {
		return nil, err
	}
	j.obs.Phase("transforming cached rows")
	ds, err := pipe.TransformCached(ctx, j.engine, rds, spec.Name, j.skipBad())
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", err)
	}
	res.Rows, res.Skipped = ds.Rows(), ds.Skipped() // the partitions count the records skipped while decoding too
	if ds.Rows() == 0 {
		return nil, errors.New("trainer: the source holds no valid records")
	}
	return rowsData{j.engine, ds}, nil
}

// prepareScanned fits the transforms by scanning the job's records, then
// decodes them again through the fitted pipeline into feature rows.
func (j *job) prepareScanned(ctx context.Context, pipe *features.Pipeline, env *fitEnv, sources, testSources []cluster.Source, res *Result) (data, error) {
	spec := j.spec
	j.obs.Phase("fitting feature transforms")
	fitRep, err := pipe.Fit(ctx, j.engine, j.opt.Log, sources, features.FitOptions{SkipBad: j.skipBad()})
	if err != nil {
		return nil, fmt.Errorf("trainer: %w", cluster.SummarizeUnavailable("fit of the feature transforms", err))
	}
	if fitRep.Bad > 0 {
		j.log.Warn("trainer: skipping records that do not fit the schema", "count", fitRep.Bad, "examples", fitRep.Examples)
	}
	env.pipe = pipe
	if err := j.deadLetters(ctx, spec.Schema, res, sources, testSources); err != nil {
		return nil, err
	}
	j.obs.Phase("caching feature rows")
	format, err := pipe.Format(j.skipBad())
	if err != nil {
		return nil, err
	}
	withFormat(sources, format)
	ds, err := j.load(ctx, spec.Name, sources)
	if err != nil {
		return nil, err
	}
	res.Rows, res.Skipped = ds.Rows(), ds.Skipped()
	if ds.Rows() == 0 {
		return nil, errors.New("trainer: the source holds no valid records")
	}
	return rowsData{j.engine, ds}, nil
}

// deadLetters sends the bad records of every source to the dead-letter
// topic, when on_bad_record says so.
func (j *job) deadLetters(ctx context.Context, schema features.Schema, res *Result, sources ...[]cluster.Source) error {
	if j.spec.OnBadRecord != "dead_letter" {
		return nil
	}
	j.obs.Phase("sending bad records to " + j.spec.DeadLetter)
	for _, src := range sources {
		if len(src) == 0 {
			continue
		}
		n, err := j.deadLetter(ctx, schema, src)
		if err != nil {
			return err
		}
		res.DeadLetter += n
	}
	return nil
}

// ratingKeys are the names of string user and item ids (nil for numeric
// ids), sorted: a name's id is its position.
type ratingKeys struct{ users, items []string }

// prepareRatings collects the names of string ids over the job's records
// and evaluation.test's (so both map a name to the same id) and reads the
// ratings of both to the driver.
func (j *job) prepareRatings(ctx context.Context, p *ALSParams, env *fitEnv, sources, testSources []cluster.Source, res *Result) (data, data, error) {
	spec := j.spec
	users, items, err := j.alsNames(ctx, append(append([]cluster.Source(nil), sources...), testSources...), j.skipBad())
	if err != nil {
		return nil, nil, err
	}
	env.ratings = &ratingKeys{users, items}
	arg, err := json.Marshal(ratingsArg{Schema: spec.Schema, User: p.User, Item: p.Item, Rating: p.Rating, SkipBad: j.skipBad(),
		UserKeys: users, ItemKeys: items})
	if err != nil {
		return nil, nil, err
	}
	withFormat := func(src []cluster.Source) {
		for i := range src {
			src[i].Format = cluster.Format{Kind: "custom", Decoder: ratingsDecoderName, Arg: arg, Header: src[i].Format.Header}
		}
	}
	withFormat(sources)
	withFormat(testSources)
	if err := j.deadLetters(ctx, spec.Schema, res, sources, testSources); err != nil {
		return nil, nil, err
	}
	j.obs.Phase("caching ratings")
	read := func(name string, src []cluster.Source) (ratingsData, error) {
		ds, err := j.load(ctx, name, src)
		if err != nil {
			return nil, err
		}
		defer j.engine.Drop(ds)
		res.Rows, res.Skipped = res.Rows+ds.Rows(), res.Skipped+ds.Skipped()
		r, err := als.Collect(ctx, j.engine, ds)
		return ratingsData(r), err
	}
	all, err := read(spec.Name, sources)
	if err != nil {
		return nil, nil, err
	}
	if len(all) == 0 {
		return nil, nil, errors.New("trainer: the source holds no valid ratings")
	}
	if testSources == nil {
		return all, nil, nil
	}
	test, err := read(spec.Name+"[test]", testSources)
	if err != nil {
		return nil, nil, err
	}
	if len(test) == 0 {
		return nil, nil, errors.New("trainer: evaluation.test holds no valid ratings")
	}
	return all, test, nil
}
