-- 0018_client_probe.sql — the group-commit set path probes stored clientIds
-- one element at a time (issue 14).
--
-- chatd_create_messages (0014, 0017) asks whether any element's clientId is
-- already stored with a join of the group's elements to messages. Its plan
-- is generic (force_generic_plan) and so chosen once per session from the
-- statistics of the moment: where messages_client_id was nearly empty when
-- messages was last analyzed (a deployment whose clients had not sent
-- clientIds yet), the planner reads that whole index and filters it
-- against the group — every group then reads every stored clientId of every
-- chat, and a message's cost grows with the table until autoanalyze (10% of
-- the table later) changes the plan. Measured with callgrind on a
-- single-user backend holding 120k messages without clientIds, 4 messages
-- per call each with a clientId: 4.3M instructions per message over calls
-- 300-600, growing, against 565k without clientIds. A LATERAL subquery with
-- LIMIT 1 per element can only be planned as one probe of
-- (chat_id, sender_id, client_id) per element, whatever the statistics say
-- (writes-plan.test.js reproduces the stale statistics and counts the index
-- entries the call reads).
--
-- Only that statement changes; the rest is 0017 verbatim.

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
        SELECT u.*, up.base + row_number() OVER (PARTITION BY u.c ORDER BY u.i) AS seq
          FROM u JOIN up ON up.id = u.c),
      ins AS (
        INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id)
        SELECT q.c, q.seq, q.s, q.ty, q.co, q.me, q.cl FROM q ORDER BY q.i
        RETURNING *),
      -- 0013's message JSON as text, in jsonb's output order (see the header)
      jt AS (
        SELECT ins.id, ins.chat_id, ins.seq, ins.created_at,
               to_char(ins.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts,
               ins.type, ins.content, ins.metadata, ins.sender_id, ins.is_edited
          FROM ins),
      j AS (
        SELECT jt.id, jt.chat_id, jt.seq, jt.created_at, jt.ts,
               '{"id": "' || jt.id || '", "seq": ' || jt.seq || ', "type": ' || to_json(jt.type)
               || ', "chatId": "' || jt.chat_id || '", "content": ' || to_json(jt.content)
               || ', "editedAt": null, "isEdited": ' || jt.is_edited || ', "metadata": '
               || coalesce(jt.metadata::text, 'null') || ', "senderId": "' || jt.sender_id
               || '", "createdAt": "' || jt.ts || '", "deletedAt": null}' AS mt
          FROM jt),
      e AS (
        INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
        SELECT j.chat_id, j.seq, 'message.created', j.mt::jsonb, j.id FROM j),
      o AS (
        INSERT INTO chat_outbox (chat_id, seq) SELECT j.chat_id, j.seq FROM j),
      t AS (
        SELECT q.i::int AS i, j.chat_id, j.seq, j.mt, j.ts
          FROM j JOIN q ON q.c = j.chat_id AND q.seq = j.seq)
      SELECT r.ch, r.payload, r.chat, r.seq, r.i, NULL::text, NULL::text FROM (
        SELECT NULL::text AS ch, t.mt AS payload, NULL::uuid AS chat, NULL::bigint AS seq, t.i,
               0 AS part
          FROM t
        UNION ALL
        -- chatd_envelope's text byte for byte (see 0013's chatd_create_message_reply)
        SELECT 'chat:' || t.chat_id,
               '{"at": "' || t.ts || '", "seq": ' || t.seq || ', "data": ' || t.mt
               || ', "kind": "message.created", "chatId": "' || t.chat_id || '"}',
               t.chat_id, t.seq, t.i, 1
          FROM t) r
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
