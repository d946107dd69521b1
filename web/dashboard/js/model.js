// model.js - turns API objects into the shapes the pages draw. The API contract is
// shared/spec/api.md; this is the one place that knows its field names.
import { pick } from './dom.js';

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

const ms = (t) => (t ? new Date(t).getTime() : NaN);

export function normRun(r) {
  if (!r) return null;
  const stats = pick(r, 'stats', 'consolidationStats', 'consolidation') || {};
  const parts = pick(r, 'partitions') || {};
  const total = Number(pick(r, 'expectedWorkers', 'expected_workers', 'expectedPartitions', 'partitionsTotal') ?? (typeof parts === 'object' && !Array.isArray(parts) ? parts.total : undefined) ?? 0);
  const completed = Number(pick(r, 'completedWorkers', 'completed_workers', 'completedPartitions', 'partitionsCompleted') ?? parts.completed ?? 0);
  const failed = Number(pick(r, 'failedWorkers', 'failed_workers', 'failedPartitions', 'partitionsFailed') ?? parts.failed ?? 0);
  const started = pick(r, 'startedAt', 'started_at');
  const finished = pick(r, 'completedAt', 'completed_at', 'cancelledAt', 'cancelled_at', 'skippedAt', 'skipped_at');
  let duration = pick(r, 'durationMs', 'duration_ms');
  if (duration === undefined && started) duration = (finished ? ms(finished) : Date.now()) - ms(started);
  return {
    raw: r,
    id: pick(r, 'runId', 'run_id', 'id'),
    type: pick(r, 'runType', 'run_type', 'type') || '—',
    status: String(pick(r, 'status') || 'unknown').toLowerCase(),
    startedAt: started,
    completedAt: pick(r, 'completedAt', 'completed_at'),
    cancelledAt: pick(r, 'cancelledAt', 'cancelled_at'),
    finishedAt: finished,
    duration,
    total, completed, failed,
    records: Number(pick(r, 'totalRecords', 'recordsProcessed', 'records', 'totalRecordsProcessed', 'records_processed') ?? stats.processed ?? pick(r, 'statsProcessed', 'stats_processed') ?? 0),
    estimated: pick(r, 'estimatedRecords', 'estimated_records'),
    updatedFrom: pick(r, 'updatedFrom', 'updated_from'),
    updatedTo: pick(r, 'updatedTo', 'updated_to'),
    watermarkBefore: pick(r, 'watermarkBefore', 'watermark_before'),
    watermarkAfter: pick(r, 'watermarkAfter', 'watermark_after'),
    traceId: pick(r, 'traceId', 'trace_id'),
    capped: pick(r, 'capped'),
    lastError: pick(r, 'lastError', 'last_error', 'error'),
    consolidationStartedAt: pick(r, 'consolidationStartedAt', 'consolidation_started_at'),
    consolidationCompletedAt: pick(r, 'consolidationCompletedAt', 'consolidation_completed_at'),
    consolidationDurationMs: pick(r, 'consolidationDurationMs', 'consolidation_duration_ms') ?? stats.durationMs,
    stats: {
      processed: stats.processed ?? pick(r, 'statsProcessed', 'stats_processed'),
      new: stats.new ?? stats.inserted ?? pick(r, 'statsNew', 'stats_new'),
      changed: stats.changed ?? stats.updated ?? pick(r, 'statsChanged', 'stats_changed'),
      unchanged: stats.unchanged ?? pick(r, 'statsUnchanged', 'stats_unchanged'),
      removed: stats.removed ?? stats.deleted ?? pick(r, 'statsRemoved', 'stats_removed'),
      failed: stats.failed ?? pick(r, 'statsFailed', 'stats_failed'),
    },
  };
}

export function partitionStatus(p) {
  const st = pick(p, 'status');
  if (st) return String(st).toLowerCase();
  if (pick(p, 'cancelled')) return 'cancelled';
  if (pick(p, 'failed')) return 'failed';
  if (pick(p, 'completed')) return 'completed';
  return 'running';
}

export function normPartition(p) {
  return {
    raw: p,
    id: pick(p, 'partitionId', 'partition_id', 'id'),
    minPrice: pick(p, 'minPrice', 'min_price', 'priceMin'),
    maxPrice: pick(p, 'maxPrice', 'max_price', 'priceMax'),
    estimated: Number(pick(p, 'estimatedRecords', 'estimated_records', 'estimate') ?? 0),
    records: Number(pick(p, 'records', 'recordsProcessed', 'records_processed') ?? 0),
    nextOffset: pick(p, 'nextOffset', 'next_offset'),
    status: partitionStatus(p),
    attempts: pick(p, 'attempts'),
    lastError: pick(p, 'lastError', 'last_error', 'errorMessage', 'error_message'),
    workerId: pick(p, 'workerId', 'worker_id'),
    updatedAt: pick(p, 'updatedAt', 'updated_at', 'completedAt', 'completed_at'),
  };
}

export function normEvent(e) {
  return {
    id: pick(e, 'id'),
    event: pick(e, 'event', 'type', 'name') || 'event',
    partitionId: pick(e, 'partitionId', 'partition_id'),
    detail: pick(e, 'detail', 'details'),
    at: pick(e, 'createdAt', 'created_at', 'at', 'timestamp'),
  };
}

export function normRule(r) {
  return {
    raw: r,
    id: pick(r, 'id'),
    name: pick(r, 'name') || '',
    priority: Number(pick(r, 'priority') ?? 0),
    caratMin: pick(r, 'caratMin', 'carat_min'),
    caratMax: pick(r, 'caratMax', 'carat_max'),
    shapes: pick(r, 'shapes') || [],
    labGrown: pick(r, 'labGrown', 'lab_grown'),
    feed: pick(r, 'feed'),
    priceMin: pick(r, 'priceMin', 'price_min'),
    priceMax: pick(r, 'priceMax', 'price_max'),
    markup: Number(pick(r, 'markupRatio', 'markup_ratio', 'markup') ?? 0),
    rating: pick(r, 'rating'),
    active: pick(r, 'active') !== false,
  };
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
