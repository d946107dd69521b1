-- 008_trading_caller: trading is bound to the verified caller, not to a client name (names are
-- not unique): caller is "key:<api_keys.id>" for an API key, "hmac:<client id>" for an HMAC
-- client (issue 15 items 9 to 11). client keeps the readable name for people and logs.

-- Purchases: idempotency keys are unique per caller, not across every client.
ALTER TABLE purchase_history ADD COLUMN caller text;
-- Rows from before stay bound to what they were bound to (the name), so no new caller can
-- replay them.
UPDATE purchase_history SET caller = client WHERE caller IS NULL;
ALTER TABLE purchase_history ALTER COLUMN caller SET NOT NULL;
ALTER TABLE purchase_history DROP CONSTRAINT purchase_history_idempotency_key_key;
CREATE UNIQUE INDEX purchase_history_caller_key_idx ON purchase_history (caller, idempotency_key);

-- Holds: who placed the hold a stone is on decides who may buy it while the hold lasts
-- (the caller that placed it, or an admin). NULL on rows from before: only an admin may buy.
ALTER TABLE hold_history ADD COLUMN caller text;
CREATE INDEX hold_history_placed_idx ON hold_history (diamond_id, supplier_hold_id, created_at DESC)
    WHERE status = 'placed';
