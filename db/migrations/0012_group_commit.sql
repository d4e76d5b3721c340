-- 0012_group_commit.sql — one statement per group-commit group (issue 14).
--
-- The sender's group commit (src/chat/batch.c) used to send a group's
-- createMessage calls as one statement each (chatd_create_message_reply,
-- 0011_write_path.sql) in one transaction. Each statement paid its own
-- Bind/Execute, portal, executor start-up, function call and result
-- messages. chatd_create_messages takes the group's arguments as arrays
-- (element i = the i-th message, in the group's order: sorted by chat id,
-- arrival order within a chat) and runs them in one call, so a group is one
-- statement however many messages it carries.
--
-- Each element returns what the 7-argument function returns for it (the
-- message JSON row, then the event row to publish), tagged o_i = i; or, when
-- the element is refused, ONE row with o_state / o_err = the SQLSTATE and
-- primary message the 7-argument function raises for it, word for word, and
-- nothing of the element is stored. The other elements are unaffected.
--
-- How, cheaply: the common element (no replyToId; the sender a current
-- participant; the chat live; its clientId, if any, not stored yet) runs
-- inline with no subtransaction — the same statements as the 7-argument
-- body, restated rather than called (a call of a SQL helper per element is
-- the per-statement cost this function removes; writes.test.js compares the
-- two paths' rows and JSON). Anything else (a reply, a non-participant, a missing or removed
-- chat) calls the 7-argument function itself inside a BEGIN/EXCEPTION block:
-- a subtransaction only for those elements, and the exact behaviour and
-- error of the per-message path. A clientId already stored returns the
-- stored message inline (as the 7-argument function does).
--
-- The membership probe runs before the chat's row lock (to route a
-- non-participant to the exact path without bumping the seq) and again
-- under it (a removal may have committed while the lock was awaited). If
-- the second probe fails — a removal racing the send — the whole call
-- raises CD403 and the sender re-runs the group one statement per message
-- (batch.c), which answers each element exactly. The same happens for any
-- error outside the exception blocks (e.g. two first sends of one clientId
-- racing on messages_client_id: SQLSTATE 23505).
CREATE OR REPLACE FUNCTION chatd_create_messages(p_chat uuid[], p_sender uuid[], p_type text[],
                                                 p_content text[], p_meta jsonb[],
                                                 p_client text[], p_reply uuid[])
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint, o_i int, o_state text,
               o_err text)
LANGUAGE plpgsql AS $$
DECLARE
  n int := coalesce(cardinality(p_chat), 0);
  c uuid;
  s uuid;
  cl text;
  v_seq bigint;
  m messages;
  mj jsonb;
  ts text;
BEGIN
  IF coalesce(cardinality(p_sender), 0) <> n OR coalesce(cardinality(p_type), 0) <> n
     OR coalesce(cardinality(p_content), 0) <> n OR coalesce(cardinality(p_meta), 0) <> n
     OR coalesce(cardinality(p_client), 0) <> n OR coalesce(cardinality(p_reply), 0) <> n THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'chatd_create_messages: the argument arrays differ in length';
  END IF;
  FOR i IN 1..n LOOP
    c := p_chat[i];
    s := p_sender[i];
    cl := p_client[i];
    o_i := i;
    o_ch := NULL;
    o_chat := NULL;
    o_seq := NULL;
    o_state := NULL;
    o_err := NULL;
    IF cl IS NOT NULL THEN
      SELECT * INTO m FROM messages WHERE chat_id = c AND sender_id = s AND client_id = cl;
      IF FOUND THEN
        o_payload := chatd_msg_json(m)::text;
        RETURN NEXT;
        CONTINUE;
      END IF;
    END IF;
    v_seq := NULL;
    IF p_reply[i] IS NULL AND (s IS NULL OR EXISTS (SELECT 1 FROM chat_participants
         WHERE chat_id = c AND user_id = s AND left_seq IS NULL)) THEN
      UPDATE chats SET last_seq = last_seq + 1, updated_at = now()
       WHERE id = c AND is_active RETURNING last_seq INTO v_seq;
    END IF;
    IF v_seq IS NULL THEN
      -- the exact path: the 7-argument function, its error caught
      BEGIN
        RETURN QUERY SELECT r.o_ch, r.o_payload, r.o_chat, r.o_seq, i, NULL::text, NULL::text
          FROM chatd_create_message_reply(c, s, p_type[i], p_content[i], p_meta[i], cl,
                                          p_reply[i]) r;
      EXCEPTION WHEN OTHERS THEN
        o_ch := NULL;
        o_chat := NULL;
        o_seq := NULL;
        o_payload := NULL;
        o_state := SQLSTATE;
        o_err := SQLERRM;
        RETURN NEXT;
      END;
      CONTINUE;
    END IF;
    -- under the chat's row lock: still a participant? (see the header)
    IF s IS NOT NULL AND NOT EXISTS (SELECT 1 FROM chat_participants
         WHERE chat_id = c AND user_id = s AND left_seq IS NULL) THEN
      RAISE EXCEPTION USING ERRCODE = 'CD403',
        MESSAGE = format('Forbidden: user %s is not a participant of chat %s', s, c);
    END IF;
    -- the 7-argument body's insert, verbatim (no reply on this path)
    WITH ins AS (
      INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id)
      VALUES (c, v_seq, s, p_type[i], p_content[i], p_meta[i], cl)
      RETURNING *),
    j AS (
      SELECT ins.id, ins.created_at, jsonb_build_object(
        'id', ins.id, 'chatId', ins.chat_id, 'senderId', ins.sender_id, 'content', ins.content,
        'type', ins.type, 'metadata', ins.metadata, 'seq', ins.seq, 'isEdited', ins.is_edited,
        'editedAt', NULL::text,
        'createdAt', to_char(ins.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
        'deletedAt', NULL::text) AS mj
      FROM ins),
    e AS (
      INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
      SELECT c, v_seq, 'message.created', j.mj, j.id FROM j)
    SELECT j.mj, to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      INTO mj, ts FROM j;
    o_payload := mj::text;
    RETURN NEXT;
    o_ch := 'chat:' || c;
    o_payload := jsonb_build_object('chatId', c, 'seq', v_seq, 'kind', 'message.created',
                                    'at', ts, 'data', mj)::text;
    o_chat := c;
    o_seq := v_seq;
    RETURN NEXT;
  END LOOP;
END
$$;
