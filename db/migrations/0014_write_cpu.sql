-- 0014_write_cpu.sql — a group-commit group's messages written set-wise
-- (issue 14, write-path CPU).
--
-- Measured: 0012's loop runs four statements per message — the membership
-- probe, the chats UPDATE, the probe again under the lock and the insert
-- CTE — and much of a message's cost was not the rows it writes but the
-- executor start-up and shutdown of those statements (opening every index
-- of messages, chat_events and chat_outbox again for each message), their
-- SPI calls and plpgsql's own per-element work. Counted with valgrind
-- (callgrind, a single-user backend calling chatd_create_messages 500 times
-- with 4 messages in 4 chats, or 125 times with 16 in 16, after a warm-up):
-- 0012 ~660k instructions per message at either size; this function ~570k
-- per message at 4 and ~380k at 16 (a group's fixed cost is higher: ~1M
-- instructions per call against ~0.3M, for ~320k less per message).
--
-- chatd_create_messages now writes a group whose elements are all common
-- (no replyToId; every sender a current participant; every chat live; no
-- clientId stored yet nor repeated within the group) with three statements
-- for the whole group, however many messages it carries:
--   1. the group's chats are row-locked in chat id order, one index probe
--      each (FOR NO KEY UPDATE, the lock the seq bump takes; chat id order
--      is the order every writer of a group uses: batch.c sorts members by
--      the canonical id text, case-insensitively, which is uuid order);
--   2. under those locks (a new statement: it sees a removal committed
--      while a lock was awaited), one probe checks every element is common;
--   3. one statement advances each chat's last_seq by its number of
--      messages, inserts the messages, their chat_events and their
--      chat_outbox rows, and returns per element the same two rows 0012
--      returns (the message JSON, then the event to publish, byte for byte
--      the same text), in element order. A chat's elements get its next
--      seqs in element order, as before.
-- Any other group runs 0012's loop unchanged (kept as
-- chatd_create_messages_each), so replies, refusals with their exact
-- errors, and stored or repeated clientIds answer exactly as before. As
-- before, an error of the set path (e.g. two first sends of one clientId
-- racing on messages_client_id) fails the whole call and the sender re-runs
-- the group one statement per message (batch.c).
--
-- The function runs with plan_cache_mode = force_generic_plan (the lock
-- statement would otherwise be planned anew on every call: a custom plan
-- for each array looks cheaper) and enable_seqscan = off (a group touches a
-- few rows of each table; where chats is small — a bench, a new deployment —
-- the planner would otherwise join it by a scan of every row per group).

ALTER FUNCTION chatd_create_messages(uuid[], uuid[], text[], text[], jsonb[], text[], uuid[])
  RENAME TO chatd_create_messages_each;

CREATE FUNCTION chatd_create_messages(p_chat uuid[], p_sender uuid[], p_type text[],
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
      v_ok := NOT EXISTS (SELECT 1 FROM unnest(p_chat, p_sender, p_client) AS u(c, s, cl)
                            JOIN messages m ON m.chat_id = u.c AND m.sender_id = u.s
                                           AND m.client_id = u.cl AND m.client_id IS NOT NULL)
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
      -- 0013's message JSON, verbatim
      j AS (
        SELECT ins.id, ins.chat_id, ins.seq, ins.created_at, jsonb_build_object(
          'id', ins.id, 'chatId', ins.chat_id, 'senderId', ins.sender_id,
          'content', ins.content, 'type', ins.type, 'metadata', ins.metadata, 'seq', ins.seq,
          'isEdited', ins.is_edited, 'editedAt', NULL::text,
          'createdAt', to_char(ins.created_at AT TIME ZONE 'UTC',
                               'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
          'deletedAt', NULL::text) AS mj
        FROM ins),
      e AS (
        INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
        SELECT j.chat_id, j.seq, 'message.created', j.mj, j.id FROM j),
      o AS (
        INSERT INTO chat_outbox (chat_id, seq) SELECT j.chat_id, j.seq FROM j),
      t AS (
        SELECT q.i::int AS i, j.chat_id, j.seq, j.mj::text AS mt,
               to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ts
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
