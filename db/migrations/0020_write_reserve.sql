-- 0020_write_reserve.sql — the set path locks its chats and reserves their
-- seqs in one statement; the outbox marks probe the primary key (issue 14,
-- write-path CPU).
--
-- ---- chatd_create_messages: lock + reserve in one UPDATE ----
-- 0019 ran three statements per group: a SELECT ... FOR NO KEY UPDATE that
-- took the chats' row locks in chat id order, the membership check, and the
-- insert statement, which UPDATEd the same chats rows again (last_seq,
-- updated_at) and joined the result back to the elements. Each chat row was
-- thus written twice per group (a tuple lock, then the new version: two WAL
-- records) and the group paid the start-up of both plans. Now the first
-- statement is the UPDATE itself: the group's chats, distinct and sorted by
-- id in a materialized CTE, are the outer side of a nested loop that probes
-- chats_pkey once per chat, so the row locks are still taken in chat id
-- order (two groups on two connections cannot deadlock), and it returns each
-- chat's first reserved seq. The membership check stays a statement of its
-- own after it (a new snapshot that sees every change committed before the
-- locks were granted, as before) and the insert statement reads the bases
-- from plpgsql arrays. A refused group (a chat no longer live, a sender not a
-- participant, a clientId already stored) gives the seqs back — the chats
-- are still locked, so no one took one meanwhile — and puts back its chats'
-- updated_at before the per-element path runs as before. PostgreSQL 15's
-- RETURNING has no old values, and reading them in the same statement costs
-- a second probe of chats per chat on every call (+18k instructions per
-- message, measured); instead the refusal reads the created_at of the
-- chat's event at the seq it gives back to: every write that moves a chat's
-- last_seq sets its updated_at to now() and writes the event at that seq in
-- the same transaction (chatd_next_seq, the set path, membership), so that
-- is the previous updated_at — also when another send committed while the
-- group waited for the lock — and a chat without events (last_seq 0) has
-- updated_at = created_at. Callgrind, the 0016 harness (120k messages,
-- 1,000 chats, single-user backend, 4 messages per call): 527.2k → 495.7k
-- instructions per message for that step.
--
-- The same harness then counted what start-up costs per call once the
-- chat row is written once: aggregates (every Agg node builds its
-- transition state) and the window function. The first statement now needs
-- none: the chats are a sorted DISTINCT, a chat's count of elements is
-- cardinality(array_positions(p_chat, id)), and the arrays it returns are
-- the only aggregate; "every chat live" moved into the membership check
-- (every element's chat among the reserved ones). An element's seq is its
-- chat's base plus its rank among that chat's elements, counted the same way
-- over the elements before it (p_chat[1:i]; at most CHAT_GC_MAX = 64
-- elements per call), so the insert statement has no Sort and WindowAgg, and
-- the numbered elements are a subquery of the JSON CTE instead of a CTE of
-- their own. 496.3k → 478.3k instructions per message; in all 527.2k →
-- 478.3k (−9.3%).
--
-- ---- chatd_outbox_mark: one probe per confirmed publish ----
-- The sender's mark statement (src/chat/outbox.c) deleted the confirmed
-- (chat_id, seq) pairs with a join of their arrays to chat_outbox. Its plan
-- is chosen from chat_outbox's statistics, and that table churns (every
-- event is inserted and deleted within milliseconds): when it looked larger
-- than a handful of rows at the last ANALYZE, the plan was a sequential scan
-- of chat_outbox, dead tuples included, hashed against the batch — per mark
-- call, every 20 ms per sender (0.83 ms per call in a 16-client run, 16 µs
-- per message, pg_stat_statements). The function below can only probe
-- chat_outbox_pkey once per pair (no sequential scans, no hash or merge
-- joins inside it), whatever the statistics. plpgsql, not SQL: a SQL
-- function with SET clauses is parsed and planned again on every call
-- (0.42 of 0.86 ms per call measured so), plpgsql keeps its plan.

CREATE OR REPLACE FUNCTION chatd_create_messages(p_chat uuid[], p_sender uuid[], p_type text[],
                                      p_content text[], p_meta jsonb[], p_client text[],
                                      p_reply uuid[])
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint, o_i int, o_state text,
               o_err text)
LANGUAGE plpgsql AS $$
DECLARE
  n int := coalesce(cardinality(p_chat), 0);
  v_ok boolean;
  v_rows bigint;
  v_now timestamptz := now();
  v_ts text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"');
  v_ids uuid[];
  v_base bigint[];
BEGIN
  IF coalesce(cardinality(p_sender), 0) <> n OR coalesce(cardinality(p_type), 0) <> n
     OR coalesce(cardinality(p_content), 0) <> n OR coalesce(cardinality(p_meta), 0) <> n
     OR coalesce(cardinality(p_client), 0) <> n OR coalesce(cardinality(p_reply), 0) <> n THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'chatd_create_messages: the argument arrays differ in length';
  END IF;
  IF n = 0 THEN
    RETURN;
  END IF;
  IF cardinality(array_remove(p_reply, NULL)) = 0 AND array_position(p_chat, NULL) IS NULL THEN
    -- takes every chat's row lock in chat id order (the sorted CTE is the
    -- outer side of the join, each chat one index probe) and reserves the
    -- group's seqs in the same step (a chat's count: its positions in p_chat)
    WITH k AS MATERIALIZED (SELECT DISTINCT u.c FROM unnest(p_chat) AS u(c) ORDER BY u.c),
    up AS (
      UPDATE chats h SET last_seq = h.last_seq + cardinality(array_positions(p_chat, h.id)),
                         updated_at = v_now
        FROM k
       WHERE h.id = k.c AND h.is_active
      RETURNING h.id, h.last_seq - cardinality(array_positions(p_chat, h.id)) AS base)
    SELECT array_agg(up.id), array_agg(up.base) INTO v_ids, v_base FROM up;
    -- under the locks (a statement of its own: its snapshot sees every change
    -- committed before the locks were granted): every sender a current
    -- participant, every element's chat reserved (live)
    v_ok := (SELECT count(*) FROM unnest(p_chat, p_sender) AS u(c, s)
               LEFT JOIN chat_participants p
                 ON p.chat_id = u.c AND p.user_id = u.s AND p.left_seq IS NULL
              WHERE (u.s IS NULL OR p.user_id IS NOT NULL) AND u.c = ANY (v_ids)) = n;
    IF v_ok AND cardinality(array_remove(p_client, NULL)) > 0 THEN
      -- no clientId stored yet, none twice in the group (the loop answers a
      -- stored one with its message, the second of a pair with the first)
      -- (one index probe per element: LATERAL ... LIMIT 1, see the header)
      v_ok := NOT EXISTS (SELECT 1 FROM unnest(p_chat, p_sender, p_client) AS u(c, s, cl)
                            CROSS JOIN LATERAL (
                              SELECT 1 FROM messages m
                               WHERE m.chat_id = u.c AND m.sender_id = u.s
                                 AND m.client_id = u.cl AND m.client_id IS NOT NULL
                               LIMIT 1) m)
              AND (SELECT count(*) = count(DISTINCT (u.c, u.s, u.cl))
                     FROM unnest(p_chat, p_sender, p_client) AS u(c, s, cl)
                    WHERE u.cl IS NOT NULL);
    END IF;
    IF v_ok THEN
      RETURN QUERY
      WITH j AS (
        SELECT q.i::int AS i, q.c, q.s, q.ty, q.co, q.me, q.cl, q.id, q.seq,
               '{"id": "' || q.id || '", "seq": ' || q.seq || ', "type": ' || to_json(q.ty)
               || ', "chatId": "' || q.c || '", "content": ' || to_json(q.co)
               || ', "editedAt": null, "isEdited": false, "metadata": '
               || coalesce(q.me::text, 'null') || ', "senderId": "' || q.s
               || '", "createdAt": "' || v_ts || '", "deletedAt": null}' AS mt
          FROM (SELECT u.i, u.c, u.s, u.ty, u.co, u.me, u.cl, gen_random_uuid() AS id,
                       v_base[array_position(v_ids, u.c)]
                         + cardinality(array_positions(p_chat[1:u.i], u.c)) AS seq
                  FROM unnest(p_chat, p_sender, p_type, p_content, p_meta, p_client)
                         WITH ORDINALITY AS u(c, s, ty, co, me, cl, i)) q),
      ins AS (
        INSERT INTO messages (id, chat_id, seq, sender_id, type, content, metadata, client_id,
                              created_at)
        SELECT j.id, j.c, j.seq, j.s, j.ty, j.co, j.me, j.cl, v_now FROM j),
      e AS (
        INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
        SELECT j.c, j.seq, 'message.created', j.mt::jsonb, j.id FROM j),
      o AS (
        INSERT INTO chat_outbox (chat_id, seq) SELECT j.c, j.seq FROM j)
      SELECT r.ch, r.payload, r.chat, r.seq, r.i, NULL::text, NULL::text FROM (
        SELECT NULL::text AS ch, j.mt AS payload, NULL::uuid AS chat, NULL::bigint AS seq, j.i,
               0 AS part
          FROM j
        UNION ALL
        SELECT 'chat:' || j.c,
               '{"at": "' || v_ts || '", "seq": ' || j.seq || ', "data": ' || j.mt
               || ', "kind": "message.created", "chatId": "' || j.c || '"}',
               j.c, j.seq, j.i, 1
          FROM j) r
      ORDER BY r.i, r.part;
      GET DIAGNOSTICS v_rows = ROW_COUNT;
      IF v_rows <> 2 * n THEN  -- cannot happen: the rows are locked; the sender re-runs the group
        RAISE EXCEPTION 'chatd_create_messages: % rows for % messages', v_rows, n;
      END IF;
      RETURN;
    END IF;
  END IF;
  IF v_ids IS NOT NULL THEN
    -- the group is refused: give back the seqs it reserved (the chats stay
    -- locked, so no one took one meanwhile) and the chats' updated_at: the
    -- time of the event at the seq given back to (see the header)
    UPDATE chats h SET last_seq = h.last_seq - cardinality(array_positions(p_chat, h.id)),
           updated_at = coalesce((SELECT e.created_at FROM chat_events e
                                   WHERE e.chat_id = h.id
                                     AND e.seq = h.last_seq - cardinality(array_positions(p_chat, h.id))),
                                 h.created_at)
      FROM unnest(v_ids) AS x(id) WHERE h.id = x.id;
  END IF;
  RETURN QUERY SELECT * FROM chatd_create_messages_each(p_chat, p_sender, p_type, p_content,
                                                        p_meta, p_client, p_reply);
END
$$
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off;

CREATE OR REPLACE FUNCTION chatd_outbox_mark(p_chat uuid[], p_seq bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_rows bigint;
BEGIN
  DELETE FROM chat_outbox o USING unnest(p_chat, p_seq) AS u(chat_id, seq)
   WHERE o.chat_id = u.chat_id AND o.seq = u.seq;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  RETURN v_rows;
END
$$
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off
SET enable_hashjoin = off
SET enable_mergejoin = off;
