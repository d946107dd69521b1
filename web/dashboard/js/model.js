// model.js - turns API objects into the shapes the pages draw. The API contract is
// shared/spec/api.md; this is the one place that knows its field names.

export const RUN_STATUSES = ['running', 'consolidating', 'completed', 'failed', 'partial', 'stalled', 'cancelled', 'skipped'];
export const ACTIVE_STATUSES = new Set(['running', 'consolidating', 'partial', 'stalled']);
// The shapes the API accepts (pricing-rule validation uses the same list).
export const SHAPES = ['ROUND', 'OVAL', 'EMERALD', 'CUSHION', 'CUSHION B', 'CUSHION MODIFIED', 'CUSHION BRILLIANT', 'ASSCHER',
  'RADIANT', 'MARQUISE', 'PEAR', 'PRINCESS', 'ROSE', 'OLD MINER', 'TRILLIANT', 'HEXAGONAL', 'HEART'];
export const COLORS = ['D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M'];
export const CLARITIES = ['FL', 'IF', 'VVS1', 'VVS2', 'VS1', 'VS2', 'SI1', 'SI2', 'I1', 'I2', 'I3'];
export const AVAILABILITIES = ['available', 'on_hold', 'sold', 'unavailable'];
export const FINISH_GRADES = [['EX', 'Excellent'], ['VG', 'Very good'], ['GD', 'Good'], ['FR', 'Fair']];
export const FLUORESCENCE = [['NON', 'None'], ['FNT', 'Faint'], ['MED', 'Medium'], ['STG', 'Strong'], ['VST', 'Very strong']];

/*
 * Each reader below takes an API object exactly as the API sends it (the `data` of a response,
 * or one item of a list) and reads each field under the one name the API emits for it, as the
 * C code writes it (src/services/api/*.c): no alternative spellings, no guessing. Where the API
 * sends one value under two names (its own camelCase beside the reference contract's name, e.g.
 * recordsProcessed/totalRecordsProcessed, feedPrice/priceModelPrice), the dashboard reads the
 * API's own. A value the API leaves out (null columns are omitted) comes out undefined and the
 * pages show "—". tests/integration/dashboard_vocabulary.sh feeds these readers the answers of a
 * real API and fails on any field read here that the API does not emit.
 */

/* A list response's items ({data: [...]}). */
export function items(res) {
  return res && Array.isArray(res.data) ? res.data : [];
}

/* Offset paging of the runs listing: {total, page, limit, totalPages}. */
export function runsPage(res) {
  const p = (res && res.pagination) || {};
  return { runs: items(res).map(normRun), total: p.total, totalPages: p.totalPages };
}

/* The diamond search: {data, pagination {total, totalIsEstimate, page, limit, totalPages, ...}},
 * with facets (include=facets) as {facets: {facets: {dimension: {value: count}}}}. */
export function searchPage(res) {
  const p = (res && res.pagination) || {};
  return {
    diamonds: items(res).map(normDiamond),
    total: p.total,
    totalPages: p.totalPages,
    estimate: p.totalIsEstimate,
    facets: res && res.facets ? facetCounts(res.facets.facets) : undefined,
  };
}

/* The search's facet dimensions each filter is counted under. */
const FACET_OF = { shape: 'shape', color: 'color', clarity: 'clarity', cut: 'cut', fluorescence: 'fluorescence', lab_grown: 'labGrown', availability: 'availability' };

/* Facet counts by filter name: {shape: {ROUND: 12, ...}, lab_grown: {true: 3, false: 9}, ...}. */
function facetCounts(f) {
  return Object.fromEntries(Object.entries(FACET_OF).map(([name, dim]) => [name, f[dim]]));
}

/* The allowlisted query endpoint's count: pagination {total, limit, offset, count}. */
export function queryTotal(res) {
  return res && res.pagination ? res.pagination.total : undefined;
}

/* An error body: {error: {code, message, details?}} and, where the API can name the command that
 * does the same by hand, manual_command at the top level (as the reference sends it). */
export function normError(body) {
  const e = (body && body.error) || {};
  return { code: e.code, message: e.message, details: e.details, manualCommand: body ? body.manual_command : undefined };
}

/* GET /health: {status: ok|degraded, database: ok|down, queue: ok|down, ...}. */
export function normHealth(j) {
  return { ok: j.status === 'ok', status: j.status, database: j.database };
}

/* GET /api/v2/analytics/summary (the API's own keys, not the reference's totalActiveDiamonds and
 * diamondsByAvailability copies). */
export function normSummary(d) {
  const last = d.lastSuccessfulRun; // null before the first completed run
  return {
    activeDiamonds: d.totalActive,
    availability: [['available', 'available'], ['on_hold', 'onHold'], ['sold', 'sold'], ['unavailable', 'unavailable']]
      .map(([name, key]) => ({ name, count: d[key] })),
    lastSuccessAt: last ? last.completedAt : undefined,
    watermark: d.currentWatermark === null ? undefined : d.currentWatermark,
    // Offers kept apart from their certificate's listing: their grading disagrees (issue 18).
    clashes: d.clashes,
  };
}

/* GET /api/v2/analytics/clashes: {data: [clash], pagination: {total, limit, offset, count}}. A
 * clash is an offer split off its certificate's listing; `listedAs` is the offer the certificate
 * is shown with (absent when none is active). */
export function clashesPage(res) {
  const pg = (res && res.pagination) || {};
  return {
    total: pg.total,
    offset: pg.offset,
    clashes: items(res).map((c) => ({
      id: c.id,
      feed: c.feed,
      stoneId: c.supplierStoneId,
      lab: c.certificateLab,
      number: c.certificateNumber,
      fields: c.clashFields || [],
      feeds: c.feeds || [],
      grading: { shape: c.shape, carats: c.carats, color: c.color, clarity: c.clarity },
      listedAs: c.certificateListing ? {
        feed: c.certificateListing.feed,
        stoneId: c.certificateListing.supplierStoneId,
        grading: { shape: c.certificateListing.shape, carats: c.certificateListing.carats, color: c.certificateListing.color, clarity: c.certificateListing.clarity },
      } : undefined,
      updatedAt: c.updatedAt,
    })),
  };
}

/* Prometheus text -> {deadLetters: [{name, count}], watermarkAgeS, feedWatermarks: [{feed, ageS}]}:
 * only what the cards need (watermarkAgeS is the default feed's; feedWatermarks each feed's that
 * has one, issue 18). */
export function parseMetrics(text) {
  const out = { deadLetters: [], watermarkAgeS: undefined, feedWatermarks: [] };
  for (const line of (text || '').split('\n')) {
    let m = line.match(/^diamond_queue_dead_letter\{queue="([^"]+)"\}\s+([0-9.eE+-]+)/);
    if (m) out.deadLetters.push({ name: m[1], count: Number(m[2]) });
    m = line.match(/^diamond_watermark_age_seconds\s+([0-9.eE+-]+)/);
    if (m) out.watermarkAgeS = Number(m[1]);
    m = line.match(/^diamond_feed_watermark_age_seconds\{feed="([^"]+)"\}\s+([0-9.eE+-]+)/);
    if (m) out.feedWatermarks.push({ feed: m[1], ageS: Number(m[2]) });
  }
  return out;
}

const ms = (t) => new Date(t).getTime();

/* A run (api_run_json): the runs listing's items, the summary's runs and the run detail. The
 * API counts partitions under the schema's name "workers" (expectedWorkers, completedWorkers,
 * failedWorkers). */
export function normRun(r) {
  const stats = r.stats;
  return {
    id: r.runId,
    feed: r.feed,
    type: r.runType,
    status: r.status,
    startedAt: r.startedAt,
    completedAt: r.completedAt,
    cancelledAt: r.cancelledAt,
    // null while the run is in progress: the time so far.
    duration: r.durationMs === null ? Date.now() - ms(r.startedAt) : r.durationMs,
    total: r.expectedWorkers,
    completed: r.completedWorkers,
    failed: r.failedWorkers,
    records: r.recordsProcessed,
    estimated: r.estimatedRecords,
    capped: r.capped,
    updatedFrom: r.updatedFrom,
    updatedTo: r.updatedTo,
    watermarkBefore: r.watermarkBefore,
    watermarkAfter: r.watermarkAfter,
    traceId: r.traceId,
    lastError: r.lastError,
    consolidationStartedAt: r.consolidationStartedAt,
    consolidationCompletedAt: r.consolidationCompletedAt,
    consolidationDurationMs: r.consolidationDurationMs,
    stats: {
      processed: stats.processed,
      new: stats.new,
      changed: stats.changed,
      unchanged: stats.unchanged,
      removed: stats.removed,
      failed: stats.failed,
    },
  };
}

/* GET /api/v2/analytics/runs/{id}: the run's own fields with its partitions and events beside
 * them. (The API also sends the reference's copies: the run again under "run" and the worker
 * rows under "workers"; the partitions carry the price bands and offsets the page shows.) */
export function normRunDetail(d) {
  return { run: normRun(d), partitions: d.partitions.map(normPartition), events: d.events.map(normEvent) };
}

/* One partition of the run detail (partition_progress joined with its worker row). */
export function normPartition(p) {
  return {
    id: p.partitionId,
    minPrice: p.minPrice,
    maxPrice: p.maxPrice,
    estimated: p.estimatedRecords,
    records: p.records,
    nextOffset: p.nextOffset,
    status: p.status,
    attempts: p.attempts,
    lastError: p.lastError,
    workerId: p.workerId,
    updatedAt: p.updatedAt,
  };
}

/* One item of GET /api/v2/analytics/failed-workers (errorMessage and completedAt may be null). */
export function normFailedWorker(w) {
  return {
    runId: w.runId,
    partitionId: w.partitionId,
    error: w.errorMessage === null ? undefined : w.errorMessage,
    at: w.completedAt === null ? undefined : w.completedAt,
  };
}

/* One run event: {id, partitionId?, event, detail, createdAt}. */
export function normEvent(e) {
  return { id: e.id, event: e.event, partitionId: e.partitionId, detail: e.detail, at: e.createdAt };
}

/* The answer of an action (retry, consolidate, cancel): the message it reports, if any. */
export function actionMessage(d) {
  return d.message;
}

/* POST /api/v2/triggers/scheduler's answer. */
export function normTriggered(d) {
  return { message: d.message, requestId: d.requestId };
}

/* POST /api/v2/pricing-rules/reprice's counts. */
export function normReprice(d) {
  return { examined: d.examined, updated: d.updated, pricesChanged: d.pricesChanged, durationMs: d.durationMs };
}

/* A pricing rule (RULE_COLS; the criteria a rule does not set are omitted). */
export function normRule(r) {
  return {
    id: r.id,
    name: r.name,
    priority: r.priority,
    caratMin: r.caratMin,
    caratMax: r.caratMax,
    shapes: r.shapes,
    labGrown: r.labGrown,
    feed: r.feed,
    priceMin: r.priceMin,
    priceMax: r.priceMax,
    markup: r.markupRatio,
    rating: r.rating,
    active: r.active,
  };
}

/* A diamond of the search or GET /api/v2/diamonds/{id} (DM_DIAMOND_JSON_SQL). */
export function normDiamond(x) {
  return {
    id: x.id,
    shape: x.shape,
    carats: x.carats,
    color: x.color,
    clarity: x.clarity,
    cut: x.cut,
    polish: x.polish,
    symmetry: x.symmetry,
    fluorescence: x.fluorescence,
    labGrown: x.labGrown,
    treated: x.treated,
    feedPrice: x.feedPrice,
    retailPrice: x.retailPrice,
    pricePerCarat: x.pricePerCarat,
    markup: x.markupRatio,
    rating: x.rating,
    ruleId: x.pricingRuleId,
    availability: x.availability,
    imageUrl: x.imageUrl,
    videoUrl: x.videoUrl,
    certLab: x.certificateLab,
    certNumber: x.certificateNumber,
    certUrl: x.certificatePdfUrl,
    measurements: x.measurements ? normMeasurements(x.measurements) : undefined,
    supplier: x.supplierName,
    supplierStoneId: x.supplierStoneId,
    feed: x.feed,
    createdAt: x.createdAt,
    updatedAt: x.updatedAt,
  };
}

/* A diamond's measurements: length, width and depth in mm, and the rest as the supplier gave it. */
export function normMeasurements(m) {
  const rest = Object.entries(m).filter(([k]) => !['length', 'width', 'depth'].includes(k));
  return { length: m.length, width: m.width, depth: m.depth, rest };
}

/* The body a rule is written with (the API's pricing-rule fields). */
export function ruleBody(f) {
  return {
    name: f.name || null,
    priority: Number(f.priority),
    carat_min: f.caratMin === '' || f.caratMin === undefined ? null : Number(f.caratMin),
    carat_max: f.caratMax === '' || f.caratMax === undefined ? null : Number(f.caratMax),
    shapes: f.shapes || [],
    lab_grown: f.labGrown === '' || f.labGrown === undefined ? null : f.labGrown === 'true' || f.labGrown === true,
    feed: f.feed || null,
    price_min: f.priceMin === '' || f.priceMin === undefined ? null : Number(f.priceMin),
    price_max: f.priceMax === '' || f.priceMax === undefined ? null : Number(f.priceMax),
    markup_ratio: Number(f.markup),
    rating: f.rating === '' || f.rating === undefined || f.rating === null ? null : Number(f.rating),
    active: f.active !== false,
  };
}

export function isActive(status) {
  return ACTIVE_STATUSES.has(status);
}
