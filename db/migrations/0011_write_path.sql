-- 0011_write_path.sql — a cheaper createMessage (issue 14, write-path throughput).
--
-- Same behaviour, rows and JSON as 0005/0009; what changes is the cost of one
-- call. Measured on the bench's database (perf on the backends): a third of a
-- message's CPU went to calling helpers — the LANGUAGE sql ones
-- (chatd_msg_json, chatd_envelope, chatd_ts) are parsed, analysed and
-- planned again in every transaction when plpgsql calls them, and each
-- nested plpgsql helper (chatd_next_seq, chatd_need_member, chatd_emit) is a
-- function call with its own executor start-up. Here the hot path is one
-- plpgsql body whose statements are planned once per session: the seq bump,
-- the membership probe, then one statement inserting the message and its
-- event with the JSON built inline in the exact shapes of chatd_msg_json /
-- chatd_envelope. The rare paths (a clientId
-- already stored, a missing or removed chat, a reply) keep calling the
-- helpers so their errors stay word for word.
--
-- chatd_create_message (6 arguments: seed-003 system messages, tests) calls
-- it with no reply; bench/tools/pgbaseline's "chatd's SQL, one transaction
-- per message" calls the 7-argument form, exactly what the sender runs.

-- ---- no foreign-key triggers on the hot inserts ----
-- Every message insert paid three referential checks (messages.chat_id,
-- messages.sender_id, chat_events.chat_id: one SPI query each, 12% of the
-- backends' CPU under load). They re-check what the writing function has
-- just established under the chat's row lock: the chat row exists and is
-- live (the seq bump updated it) and the sender is a current participant
-- (chat_participants.user_id keeps its foreign key to users). Chats and users
-- are never deleted (removal deactivates them), so no delete can orphan a
-- row either. Every other foreign key stays.
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_chat_id_fkey,
                     DROP CONSTRAINT IF EXISTS messages_sender_id_fkey;
ALTER TABLE chat_events DROP CONSTRAINT IF EXISTS chat_events_chat_id_fkey;

-- ---- fewer index writes per message ----
-- The retention prune is the only query that searches chat_events by
-- created_at (others read it from rows found by (chat_id, seq)); rows are
-- appended in time order, so a BRIN index (a summary per block range, next
-- to free to maintain) serves its range scan instead of one B-tree entry per
-- event.
DROP INDEX IF EXISTS chat_events_created_idx;
CREATE INDEX chat_events_created_brin ON chat_events USING brin (created_at);
-- clientId is optional: only messages that carry one need an entry in its
-- uniqueness index (the lookup `client_id = $x` implies NOT NULL, so it still
-- uses it; a duplicate is still SQLSTATE 23505 on messages_client_id).
ALTER TABLE messages DROP CONSTRAINT IF EXISTS messages_client_id;
CREATE UNIQUE INDEX messages_client_id ON messages (chat_id, sender_id, client_id)
  WHERE client_id IS NOT NULL;

-- ---- createMessage ----
CREATE OR REPLACE FUNCTION chatd_create_message_reply(p_chat uuid, p_sender uuid, p_type text,
                                                      p_content text, p_meta jsonb, p_client text,
                                                      p_reply uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_seq bigint;
  m messages;
  mj jsonb;
  ts text;
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
  -- chatd_next_seq, inline: the row lock serialises the chat's writers
  UPDATE chats SET last_seq = last_seq + 1, updated_at = now()
   WHERE id = p_chat AND is_active RETURNING last_seq INTO v_seq;
  IF NOT FOUND THEN
    PERFORM chatd_chat_missing(p_chat);
  END IF;
  -- chatd_need_member, inline
  IF p_sender IS NOT NULL AND NOT EXISTS (SELECT 1 FROM chat_participants
       WHERE chat_id = p_chat AND user_id = p_sender AND left_seq IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = 'CD403',
      MESSAGE = format('Forbidden: user %s is not a participant of chat %s', p_sender, p_chat);
  END IF;
  IF p_reply IS NOT NULL THEN
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
  -- one statement writes the message and its event (chatd_msg_json, chatd_ts
  -- and chatd_emit, inline: created_at = now() = the event's `at`)
  WITH ins AS (
    INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id,
                          reply_to_id)
    VALUES (p_chat, v_seq, p_sender, p_type, p_content, p_meta, p_client, p_reply)
    RETURNING *),
  j AS (
    SELECT ins.id, ins.created_at, jsonb_build_object(
      'id', ins.id, 'chatId', ins.chat_id, 'senderId', ins.sender_id, 'content', ins.content,
      'type', ins.type, 'metadata', ins.metadata, 'seq', ins.seq, 'isEdited', ins.is_edited,
      'editedAt', NULL::text,
      'createdAt', to_char(ins.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
      'deletedAt', NULL::text)
      || CASE WHEN ins.reply_to_id IS NULL THEN '{}'::jsonb
              ELSE jsonb_build_object('replyToId', ins.reply_to_id) END AS mj
    FROM ins),
  e AS (
    INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
    SELECT p_chat, v_seq, 'message.created', j.mj, j.id FROM j)
  SELECT j.mj, to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    INTO mj, ts FROM j;
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := jsonb_build_object('chatId', p_chat, 'seq', v_seq, 'kind', 'message.created',
                                  'at', ts, 'data', mj)::text;
  o_chat := p_chat;
  o_seq := v_seq;
  RETURN NEXT;
END
$$;

-- The 6-argument form (seed-003 system messages, tests): the 7-argument
-- body without a reply. bench/tools/pgbaseline's "chatd's SQL" calls the
-- 7-argument form itself, as the sender does.
CREATE OR REPLACE FUNCTION chatd_create_message(p_chat uuid, p_sender uuid, p_type text,
                                                p_content text, p_meta jsonb, p_client text)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE sql AS $$
  SELECT * FROM chatd_create_message_reply(p_chat, p_sender, p_type, p_content, p_meta,
                                           p_client, NULL)
$$;
