-- 0016_write_indexes.sql — two fewer B-tree entries per message (issue 14,
-- write-path CPU).
--
-- Measured with valgrind (callgrind, a single-user backend calling
-- chatd_create_messages 300 and 600 times with 4 messages in 4 of 1,000
-- chats, 120,000 messages stored; instructions per message = the
-- difference / 1,200): 574.6k before, 563.5k with the message-id index
-- below, 542.8k with both indexes below; a B-tree entry a message no
-- longer writes is 11k–21k instructions and ~80 bytes of WAL.
--
-- ---- chat_events_message_idx: no entry for message.created ----
-- The index finds a message's events when its payloads are rewritten
-- (removal, compat cleanup: the content is cleared from the log). Every
-- message has exactly one message.created event and it sits at the
-- message's own (chat_id, seq) — every writer inserts the message and its
-- event with the same seq — so the primary key finds it; only the rarer
-- events that name a message (message.updated, message.deleted, reaction)
-- need the index. The two functions that rewrite payloads now find the
-- created event by (chat_id, seq) and the others through the index (their
-- `kind IN ('message.updated', 'reaction')` implies the index predicate, so
-- the planner uses it as before).

DO $$
BEGIN
  -- the premise, checked once on the rows already stored
  IF EXISTS (SELECT 1 FROM chat_events e JOIN messages m ON m.id = e.message_id
              WHERE e.kind = 'message.created' AND (e.chat_id, e.seq) <> (m.chat_id, m.seq)) THEN
    RAISE EXCEPTION '0016: a message.created event is not at its message''s (chat_id, seq)';
  END IF;
END
$$;

DROP INDEX IF EXISTS chat_events_message_idx;
CREATE INDEX chat_events_message_idx ON chat_events (message_id)
  WHERE message_id IS NOT NULL AND kind <> 'message.created';

-- ---- one index on messages (chat_id, seq) ----
-- messages_chat_seq (UNIQUE (chat_id, seq): history, seq uniqueness) and
-- messages_unread_idx (0005: the same key, INCLUDE (sender_id), partial:
-- live non-system messages, for the unread count) were two entries per
-- message for one key. One unique index now carries the columns the
-- unread count filters on, so that count stays an index(-only) range scan:
-- (chat_id, seq) INCLUDE (sender_id, type, deleted_at). A removal sets
-- deleted_at, which was already an update of indexed columns (the partial
-- indexes' predicates), so it costs the same.
DROP INDEX IF EXISTS messages_unread_idx;
ALTER TABLE messages DROP CONSTRAINT messages_chat_seq,
  ADD CONSTRAINT messages_chat_seq UNIQUE (chat_id, seq) INCLUDE (sender_id, type, deleted_at);

-- ---- the payload rewrites: created event by (chat_id, seq) ----
-- As 0009, with the lookup split as above.
CREATE OR REPLACE FUNCTION chatd_remove_message(p_id uuid, p_actor uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  x record;
BEGIN
  SELECT * INTO x FROM chatd_message_for_author(p_id, p_actor, 'remove');
  c := x.c;
  m := x.m;
  UPDATE messages SET content = '', metadata = NULL, deleted_at = now()
   WHERE id = p_id RETURNING * INTO m;
  DELETE FROM message_reactions WHERE message_id = p_id;
  mj := chatd_msg_json(m);
  UPDATE chat_events SET payload = mj
   WHERE chat_id = m.chat_id AND seq = m.seq AND kind = 'message.created' AND message_id = p_id;
  UPDATE chat_events SET payload = CASE WHEN kind = 'reaction' THEN payload || mj ELSE mj END
   WHERE message_id = p_id AND kind IN ('message.updated', 'reaction');
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || m.chat_id;
  o_payload := chatd_emit(m.chat_id, c.last_seq, 'message.deleted', mj, m.id);
  o_chat := m.chat_id;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

CREATE OR REPLACE FUNCTION chatd_compat_cleanup(p_chat uuid, p_keep int)
RETURNS int
LANGUAGE plpgsql AS $$
DECLARE
  cut bigint;
  ids uuid[];
BEGIN
  PERFORM 1 FROM chats WHERE id = p_chat AND is_active FOR UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  SELECT seq INTO cut FROM messages
   WHERE chat_id = p_chat AND deleted_at IS NULL
   ORDER BY seq DESC OFFSET greatest(p_keep, 0) LIMIT 1;
  IF cut IS NULL THEN
    RETURN 0;
  END IF;
  WITH gone AS (
    UPDATE messages SET content = '', metadata = NULL, deleted_at = now()
     WHERE chat_id = p_chat AND seq <= cut AND deleted_at IS NULL
    RETURNING id)
  SELECT coalesce(array_agg(id), '{}') INTO ids FROM gone;
  DELETE FROM message_reactions WHERE message_id = ANY (ids);
  UPDATE chat_events e SET payload = chatd_msg_json(m)
    FROM messages m
   WHERE m.id = ANY (ids) AND e.chat_id = m.chat_id AND e.seq = m.seq
     AND e.kind = 'message.created' AND e.message_id = m.id;
  UPDATE chat_events e
     SET payload = CASE WHEN e.kind = 'reaction' THEN e.payload || chatd_msg_json(m)
                        ELSE chatd_msg_json(m) END
    FROM messages m
   WHERE m.id = ANY (ids) AND e.message_id = m.id AND e.kind IN ('message.updated', 'reaction');
  RETURN cardinality(ids);
END
$$;
