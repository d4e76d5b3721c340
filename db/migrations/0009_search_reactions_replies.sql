-- 0009_search_reactions_replies.sql — one history rule, message search,
-- reactions and replies (issue 19, items 2, 3, 4, 7). docs/api.md has the
-- rules; src/chat/queries.c and src/chat/sender.c the statements.
--
-- Blocks (each stands alone so other changes of the same functions merge
-- cleanly): history rule · replies · search · reactions · removal.

-- ---- history rule (item 7) ----
-- THE visibility floor: the lowest seq of p_chat that p_user may see —
-- messages, events (chatEventsSince, subscriptions), read status, search and
-- replies all compare against this one function. A member sees what happened
-- after they joined or were last re-added (joined_seq is the seq of the
-- participants.added event that brought them in; 0 for the chat's first
-- members). p_user NULL (trust mode without an identity, the seed's
-- behaviour) sees everything; a non-member nothing (NULL: every comparison
-- is false). A chat setting "new members see full history" widens it here.
CREATE FUNCTION chatd_visible_from(p_chat uuid, p_user uuid) RETURNS bigint
LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_user IS NULL THEN 1::bigint
    ELSE (SELECT p.joined_seq + 1 FROM chat_participants p
           WHERE p.chat_id = p_chat AND p.user_id = p_user AND p.left_seq IS NULL) END
$$;

-- ---- replies (item 4) ----
ALTER TABLE messages ADD COLUMN reply_to_id uuid REFERENCES messages (id) ON DELETE SET NULL;
-- Message.replyCount
CREATE INDEX messages_reply_idx ON messages (reply_to_id)
  WHERE reply_to_id IS NOT NULL AND deleted_at IS NULL;

CREATE OR REPLACE FUNCTION chatd_msg_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'content', m.content,
    'type', m.type, 'metadata', m.metadata, 'seq', m.seq, 'isEdited', m.is_edited,
    'editedAt', chatd_ts(m.edited_at), 'createdAt', chatd_ts(m.created_at),
    'deletedAt', chatd_ts(m.deleted_at))
    -- only replies carry replyToId: every other payload stays as it was
    || CASE WHEN m.reply_to_id IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('replyToId', m.reply_to_id) END
$$;

-- createMessage with replyToId: the original must be a live message of the
-- same chat that the sender may see (checked under the chat's lock). The rest
-- is chatd_create_message of 0005 (clientId retries, one publication).
CREATE FUNCTION chatd_create_message_reply(p_chat uuid, p_sender uuid, p_type text,
                                           p_content text, p_meta jsonb, p_client text,
                                           p_reply uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  orig messages;
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
  IF p_reply IS NOT NULL THEN
    -- not found unless the sender may see it where it is (no oracle for
    -- messages of other chats); seen but elsewhere: not the same chat
    SELECT * INTO orig FROM messages WHERE id = p_reply AND deleted_at IS NULL;
    IF NOT FOUND OR NOT coalesce(orig.seq >= chatd_visible_from(orig.chat_id, p_sender), false)
    THEN
      RAISE EXCEPTION USING ERRCODE = 'CD404',
        MESSAGE = format('Message %s not found (replyToId)', p_reply);
    END IF;
    IF orig.chat_id <> p_chat THEN
      RAISE EXCEPTION USING ERRCODE = 'CD400',
        MESSAGE = 'replyToId must name a message of the same chat';
    END IF;
  END IF;
  INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id, reply_to_id)
  VALUES (p_chat, c.last_seq, p_sender, p_type, p_content, p_meta, p_client, p_reply)
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

-- ---- search (item 2) ----
-- Full-text search over live messages with the language-neutral 'simple'
-- configuration (lower-cased words, no stemming, no stop words). The query
-- side is built from tokens by the receiver (searchMessages), never from raw
-- input. The expression must stay exactly to_tsvector('simple', content) in
-- queries for the planner to use the index.
CREATE INDEX messages_search_idx ON messages USING gin (to_tsvector('simple', content))
  WHERE deleted_at IS NULL;

-- The tsquery of search tokens (letters and digits only, checked by the
-- caller): every token must match, the last one as a prefix.
CREATE FUNCTION chatd_search_query(p_tokens text[]) RETURNS tsquery
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_tsquery('simple', string_agg(
           '''' || replace(t, '''', '') || '''' ||
           CASE WHEN o = cardinality(p_tokens) THEN ':*' ELSE '' END, ' & ' ORDER BY o))
    FROM unnest(p_tokens) WITH ORDINALITY AS x(t, o)
$$;

-- ---- reactions (item 3) ----
CREATE TABLE message_reactions (
    message_id uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
    emoji      text NOT NULL,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- one reaction per user, emoji and message; groups read in this order
    PRIMARY KEY (message_id, emoji, user_id)
);

-- addReaction (p_add) / removeReaction. The actor must be a participant who
-- may see the message (history rule); at most p_max distinct emoji on one
-- message. Adding what exists or removing what does not changes nothing and
-- publishes nothing (idempotent); a change takes the next seq and appends a
-- `reaction` event whose data is the message (as message.updated) plus
-- userId, emoji and added.
CREATE FUNCTION chatd_react(p_actor uuid, p_msg uuid, p_emoji text, p_add boolean, p_max int)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  changed boolean;
BEGIN
  SELECT * INTO m FROM messages WHERE id = p_msg AND deleted_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Message %s not found', p_msg);
  END IF;
  c := chatd_chat_lock(m.chat_id, p_actor);
  -- again under the lock: a removal may have committed meanwhile
  SELECT * INTO m FROM messages WHERE id = p_msg AND deleted_at IS NULL;
  IF NOT FOUND OR NOT coalesce(m.seq >= chatd_visible_from(m.chat_id, p_actor), false) THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Message %s not found', p_msg);
  END IF;
  IF p_add THEN
    IF NOT EXISTS (SELECT 1 FROM message_reactions WHERE message_id = p_msg AND emoji = p_emoji)
       AND (SELECT count(DISTINCT emoji) FROM message_reactions WHERE message_id = p_msg) >= p_max
    THEN
      RAISE EXCEPTION USING ERRCODE = 'CD400',
        MESSAGE = format('A message has at most %s different reactions', p_max);
    END IF;
    INSERT INTO message_reactions (message_id, emoji, user_id) VALUES (p_msg, p_emoji, p_actor)
    ON CONFLICT DO NOTHING;
  ELSE
    DELETE FROM message_reactions
     WHERE message_id = p_msg AND emoji = p_emoji AND user_id = p_actor;
  END IF;
  changed := FOUND;
  mj := chatd_msg_json(m);
  o_payload := mj::text;
  RETURN NEXT;
  IF NOT changed THEN
    RETURN;
  END IF;
  c := chatd_next_seq(m.chat_id);
  o_ch := 'chat:' || m.chat_id;
  o_payload := chatd_emit(m.chat_id, c.last_seq, 'reaction',
                          mj || jsonb_build_object('userId', p_actor, 'emoji', p_emoji,
                                                   'added', p_add), m.id);
  o_chat := m.chat_id;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

-- ---- removal: reaction events carry the message too ----
-- As 0005, and the `reaction` events of the message lose its content too
-- (their userId / emoji / added stay). Its reactions go with it.
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
  UPDATE chat_events SET payload = CASE WHEN kind = 'reaction' THEN payload || mj ELSE mj END
   WHERE message_id = p_id AND kind IN ('message.created', 'message.updated', 'reaction');
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
  UPDATE chat_events e
     SET payload = CASE WHEN e.kind = 'reaction' THEN e.payload || chatd_msg_json(m)
                        ELSE chatd_msg_json(m) END
    FROM messages m
   WHERE m.id = ANY (ids) AND e.message_id = m.id
     AND e.kind IN ('message.created', 'message.updated', 'reaction');
  RETURN cardinality(ids);
END
$$;
