-- 0004_admin.sql — the seed-003 compatibility API (docs/parts/compat.md):
-- an isAdmin flag on users (granted by `chatd admin grant <username>` or
-- CHATD_ADMINS at start) and the retention cleanup behind
-- DELETE /api/v1/chat/rooms/:id/cleanup.

ALTER TABLE users ADD COLUMN is_admin boolean NOT NULL DEFAULT false;

-- Keeps the newest p_keep live messages of a chat; older ones are removed
-- the way removeMessage removes one (content and metadata cleared in
-- messages AND in the chat_events payloads that carried them, deleted_at
-- set) so history, replays and the event log agree. The chat row is locked
-- first, which serialises the cleanup with every writer of the chat (they
-- bump chats.last_seq); unread counts of current participants are then
-- recounted by the design §5 formula in the same transaction. No event is
-- published: clients see the shorter history on their next read.
-- Returns the number of messages removed, or NULL when the chat does not
-- exist (or was removed).
CREATE FUNCTION chatd_compat_cleanup(p_chat uuid, p_keep int)
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
  UPDATE chat_events e SET payload = chatd_msg_json(m)
    FROM messages m
   WHERE m.id = ANY (ids) AND e.message_id = m.id
     AND e.kind IN ('message.created', 'message.updated');
  UPDATE unread_counts uc
     SET unread_count = (SELECT count(*) FROM messages m
                          WHERE m.chat_id = p_chat AND m.deleted_at IS NULL
                            AND m.type <> 'system' AND m.sender_id <> uc.user_id
                            AND m.seq > greatest(p.last_read_seq, p.joined_seq)),
         updated_at = now()
    FROM chat_participants p
   WHERE uc.chat_id = p_chat AND p.chat_id = p_chat AND p.user_id = uc.user_id
     AND p.left_seq IS NULL;
  RETURN cardinality(ids);
END
$$;
