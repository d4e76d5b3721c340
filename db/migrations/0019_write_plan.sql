-- 0019_write_plan.sql — the set path's statement without RETURNING and
-- without joining its own output back (issue 14, write-path CPU).
--
-- A group's fixed cost is mostly executor start-up: every plan node
-- builds its tuple descriptor (a catalog lookup per column), its
-- projections and expressions, on every call. 0017's statement inserted
-- the messages with RETURNING * (every column of messages carried through
-- two more CTEs), then joined that output back to the numbered elements
-- (a hash join) to recover each element's index for the reply. Now each
-- element's id (gen_random_uuid(), the column's own default) and its seq
-- are computed before the insert, so the message JSON is built once from
-- the numbered elements and the messages, chat_events and chat_outbox
-- inserts and the reply rows all read that one CTE: no RETURNING, no join
-- back. created_at is the transaction's now() as before (the column's
-- default), passed explicitly, and its text is formatted once per call in
-- a plpgsql variable. The bytes returned and stored are 0017's (writes.test.js
-- compares the set path with the loop byte for byte). Callgrind, the 0016
-- harness (120k messages, 1,000 chats, single-user backend): 564.7k →
-- 528.9k instructions per message at 4 messages per call, 1,256k → 1,172k
-- at 1.
--
-- Only the set path's statement changes; the rest is 0018 verbatim.

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
    -- one index probe per chat, in chat id order (a LATERAL subquery per chat:
    -- a plan over the whole chats table would lock in its own order)
    PERFORM 1 FROM (SELECT DISTINCT u.c FROM unnest(p_chat) AS u(c) ORDER BY u.c) u
      CROSS JOIN LATERAL (SELECT 1 FROM chats x WHERE x.id = u.c FOR NO KEY UPDATE) h;
    -- under the locks: every chat live, every sender a current participant
    v_ok := (SELECT count(*) FROM unnest(p_chat, p_sender) AS u(c, s)
               JOIN chats h ON h.id = u.c AND h.is_active
               LEFT JOIN chat_participants p
                 ON p.chat_id = u.c AND p.user_id = u.s AND p.left_seq IS NULL
              WHERE u.s IS NULL OR p.user_id IS NOT NULL) = n;
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
      WITH u AS (
        SELECT * FROM unnest(p_chat, p_sender, p_type, p_content, p_meta, p_client)
                        WITH ORDINALITY AS u(c, s, ty, co, me, cl, i)),
      k AS (SELECT u.c, count(*) AS k FROM u GROUP BY u.c),
      up AS (
        UPDATE chats h SET last_seq = h.last_seq + k.k, updated_at = now() FROM k
         WHERE h.id = k.c RETURNING h.id, h.last_seq - k.k AS base),
      q AS (
        SELECT u.i, u.c, u.s, u.ty, u.co, u.me, u.cl, gen_random_uuid() AS id,
               up.base + row_number() OVER (PARTITION BY u.c ORDER BY u.i) AS seq
          FROM u JOIN up ON up.id = u.c),
      j AS (
        SELECT q.i::int AS i, q.c, q.s, q.ty, q.co, q.me, q.cl, q.id, q.seq,
               '{"id": "' || q.id || '", "seq": ' || q.seq || ', "type": ' || to_json(q.ty)
               || ', "chatId": "' || q.c || '", "content": ' || to_json(q.co)
               || ', "editedAt": null, "isEdited": false, "metadata": '
               || coalesce(q.me::text, 'null') || ', "senderId": "' || q.s
               || '", "createdAt": "' || v_ts || '", "deletedAt": null}' AS mt
          FROM q),
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
  RETURN QUERY SELECT * FROM chatd_create_messages_each(p_chat, p_sender, p_type, p_content,
                                                        p_meta, p_client, p_reply);
END
$$
SET plan_cache_mode = force_generic_plan
SET enable_seqscan = off;
