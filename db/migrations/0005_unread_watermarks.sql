-- 0005_unread_watermarks.sql — unread counts derived from the watermarks
-- (issue 14, item 1), one publication per message (item 2).
--
-- Before: every createMessage / removeMessage updated one unread_counts row
-- per member and returned one user:<id> notification per member (unread,
-- preview), all under the chat's row lock. Now a message writes O(1) rows
-- whatever the size of the group and publishes ONE event, on chat:<id>:
--
--  * The unread count of user u in chat c is computed when read:
--      messages of c with seq > greatest(last_read_seq, joined_seq) of u,
--      sender <> u, deleted_at IS NULL, type <> 'system'   (design §5)
--    with the partial index messages_unread_idx (chat_id, seq) INCLUDE
--    (sender_id) WHERE deleted_at IS NULL AND type <> 'system': a range scan
--    of exactly the live, countable messages above the watermark, O(unread).
--    The watermarks already live in chat_participants (joined_seq set by
--    createChat/addParticipants, last_read_seq moved by chatd_mark_read), so
--    a populated database is correct the moment this migration commits.
--  * The receiver derives the per-user streams (chatMessageNotification,
--    messageUpdateForChatList, unreadCountUpdated) from the chat channel
--    (src/chat/feed.c). For that, the `read` chat event now carries the
--    reader's unread count at that seq (`unreadCount`, computed under the
--    chat lock), so a receiver following the chat resets the count exactly
--    in log order.
--  * unread_counts is no longer read or maintained by messages, reads or
--    cleanup. Its rows are emptied here; the membership functions of 0003
--    still insert/delete one zero row per joining/leaving member (O(added))
--    until they are rewritten — nothing reads them. Drop the table then.

CREATE INDEX messages_unread_idx ON messages (chat_id, seq) INCLUDE (sender_id)
  WHERE deleted_at IS NULL AND type <> 'system';

TRUNCATE unread_counts;
COMMENT ON TABLE unread_counts IS
  'Not maintained since 0005_unread_watermarks: unread counts are derived (chatd_unread).';

-- The unread count of p_user in p_chat above watermark p_wm (the caller
-- passes greatest(last_read_seq, joined_seq)). Served by messages_unread_idx.
CREATE FUNCTION chatd_unread_above(p_chat uuid, p_user uuid, p_wm bigint) RETURNS int
LANGUAGE sql STABLE AS $$
  SELECT count(*)::int FROM messages m
   WHERE m.chat_id = p_chat AND m.seq > p_wm AND m.sender_id <> p_user
     AND m.deleted_at IS NULL AND m.type <> 'system'
$$;

-- The unread count of a (current or former) participant; 0 for anyone else.
CREATE FUNCTION chatd_unread(p_chat uuid, p_user uuid) RETURNS int
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT chatd_unread_above(p.chat_id, p.user_id,
                                             greatest(p.last_read_seq, p.joined_seq))
                     FROM chat_participants p
                    WHERE p.chat_id = p_chat AND p.user_id = p_user AND p.left_seq IS NULL), 0)
$$;

-- The hot path: O(1) rows written and ONE publication whatever the size of
-- the group. (Clientid retries and the 23505 race: as in 0003.)
CREATE OR REPLACE FUNCTION chatd_create_message(p_chat uuid, p_sender uuid, p_type text,
                                                p_content text, p_meta jsonb, p_client text)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
BEGIN
  IF p_client IS NOT NULL THEN
    SELECT * INTO m FROM messages
     WHERE chat_id = p_chat AND sender_id = p_sender AND client_id = p_client;
    IF FOUND THEN
      o_payload := chatd_msg_json(m)::text;
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;
  c := chatd_next_seq(p_chat);
  PERFORM chatd_need_member(p_chat, p_sender);
  INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id)
  VALUES (p_chat, c.last_seq, p_sender, p_type, p_content, p_meta, p_client)
  RETURNING * INTO m;
  mj := chatd_msg_json(m);
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'message.created', mj, m.id);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

-- Removal: clears the message everywhere and publishes ONE event; receivers
-- lower the counts of the members that counted it (message.deleted carries
-- the message's seq, sender and type).
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
  mj := chatd_msg_json(m);
  -- nothing of the content survives in the log either
  UPDATE chat_events SET payload = mj
   WHERE message_id = p_id AND kind IN ('message.created', 'message.updated');
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || m.chat_id;
  o_payload := chatd_emit(m.chat_id, c.last_seq, 'message.deleted', mj, m.id);
  o_chat := m.chat_id;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

-- Read marks: one write (the reader's watermark) plus the event. The count
-- is computed from the watermark under the chat lock, so the `read` event's
-- unreadCount is exact at its seq. The user:<id> `unread` notification
-- stays (a read made on another device is about that user).
CREATE OR REPLACE FUNCTION chatd_mark_read(p_actor uuid, p_chat uuid, p_msg uuid, p_upto bigint)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  chat uuid := p_chat;
  upto bigint := p_upto;
  wm bigint;
  n int;
  rd message_reads;
  result jsonb;
BEGIN
  IF p_msg IS NOT NULL THEN
    SELECT * INTO m FROM messages WHERE id = p_msg AND deleted_at IS NULL;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Message %s not found', p_msg);
    END IF;
    chat := m.chat_id;
    upto := m.seq;
  END IF;
  c := chatd_chat_lock(chat, p_actor);
  SELECT last_read_seq INTO wm FROM chat_participants WHERE chat_id = chat AND user_id = p_actor;
  upto := least(coalesce(upto, c.last_seq), c.last_seq);
  IF p_msg IS NOT NULL THEN
    INSERT INTO message_reads (message_id, user_id) VALUES (p_msg, p_actor)
    ON CONFLICT (message_id, user_id) DO UPDATE SET read_at = message_reads.read_at
    RETURNING * INTO rd;
    result := jsonb_build_object('id', rd.id, 'messageId', rd.message_id, 'userId', rd.user_id,
                                 'readAt', chatd_ts(rd.read_at));
  END IF;
  IF upto <= wm THEN -- already read up to there: no event
    IF result IS NULL THEN
      result := jsonb_build_object('unreadCount', chatd_unread(chat, p_actor));
    END IF;
    o_payload := result::text;
    RETURN NEXT;
    RETURN;
  END IF;
  c := chatd_next_seq(chat);
  UPDATE chat_participants SET last_read_seq = upto WHERE chat_id = chat AND user_id = p_actor;
  n := chatd_unread(chat, p_actor);
  IF result IS NULL THEN result := jsonb_build_object('unreadCount', n); END IF;
  o_payload := result::text;
  RETURN NEXT;
  o_ch := 'chat:' || chat;
  o_payload := chatd_emit(chat, c.last_seq, 'read',
                          jsonb_build_object('userId', p_actor, 'upToSeq', upto,
                                             'readAt', chatd_ts(now()), 'unreadCount', n), NULL);
  o_chat := chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  o_ch := 'user:' || p_actor;
  o_payload := chatd_note(p_actor, chat, c.last_seq, 'unread',
                          chatd_unread_json(chat, p_actor, n, c.last_seq));
  RETURN NEXT;
END
$$;

-- The seed-003 retention cleanup of 0004 without the unread_counts recount
-- (counts are derived: the removed messages simply stop being counted).
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
  UPDATE chat_events e SET payload = chatd_msg_json(m)
    FROM messages m
   WHERE m.id = ANY (ids) AND e.message_id = m.id
     AND e.kind IN ('message.created', 'message.updated');
  RETURN cardinality(ids);
END
$$;
