-- 0013_outbox.sql — the outbox's pending set in its own narrow table (issue 14,
-- write-path CPU).
--
-- Until now a chat_events row stayed published_at NULL until Redis confirmed
-- a PUBLISH of it, and the sender then marked it with an UPDATE. Measured
-- under the throughput bench (pg_stat_statements, 16 clients) that mark was
-- about a fifth of the database's statement time per message: published_at
-- is in the predicate of chat_events_unpublished_idx, so no mark is a HOT
-- update — each one wrote a new copy of the whole row (its JSON payload
-- included, into the WAL too) and new entries in the primary key,
-- chat_events_message_idx and the BRIN index, and left a dead row version
-- behind for vacuum.
--
-- Now the writing transaction also inserts (chat_id, seq) into chat_outbox,
-- a narrow table with one index; a confirmed publish DELETEs that row (no
-- new row version, no index entry), and the sweeper claims the rows of
-- chat_outbox whose sweep_after has passed and joins chat_events for the
-- envelope. The promise is unchanged and exact: an event has its
-- chat_outbox row from the commit that wrote it until Redis has
-- acknowledged a PUBLISH of it; the sweeper republishes every such row
-- whose lease has passed (receivers drop duplicates by seq). The retention
-- prune deletes only events with no chat_outbox row.
--
-- chat_outbox has no index on sweep_after: in steady state it holds only
-- the events published in the last few milliseconds, so the sweeper's
-- claim scans a handful of pages; during a broker outage it grows with the
-- backlog and a claim becomes a scan of it (about a millisecond per ten
-- thousand pending events), which is cheaper than an index entry written
-- for every event in normal operation.
--
-- chat_events.published_at and sweep_after are no longer written (kept so
-- that old rows and tools reading them do not break; NULL / their default).

CREATE TABLE chat_outbox (
    chat_id     uuid NOT NULL,
    seq         bigint NOT NULL,
    sweep_after timestamptz NOT NULL DEFAULT now() + interval '2 seconds',
    PRIMARY KEY (chat_id, seq)
);
COMMENT ON TABLE chat_outbox IS
  'chatd outbox: chat events whose PUBLISH Redis has not confirmed yet (src/chat/outbox.c)';
COMMENT ON COLUMN chat_events.published_at IS 'Not written since 0013_outbox (see chat_outbox).';
COMMENT ON COLUMN chat_events.sweep_after IS 'Not used since 0013_outbox (see chat_outbox).';

-- what was still unconfirmed moves over, with its lease
INSERT INTO chat_outbox (chat_id, seq, sweep_after)
SELECT chat_id, seq, sweep_after FROM chat_events WHERE published_at IS NULL;
DROP INDEX IF EXISTS chat_events_unpublished_idx;

-- Appends the chat event (seq already taken) and returns its envelope.
CREATE OR REPLACE FUNCTION chatd_emit(p_chat uuid, p_seq bigint, p_kind text, p_data jsonb,
                                      p_msg uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
  VALUES (p_chat, p_seq, p_kind, p_data, p_msg);
  INSERT INTO chat_outbox (chat_id, seq) VALUES (p_chat, p_seq);
  RETURN chatd_envelope(p_chat, p_seq, p_kind, now(), p_data);
END
$$;

-- The two write functions of 0011/0012, unchanged but for the chat_outbox
-- insert beside the chat_events insert (the CTE `o`) and the event's
-- envelope text, which is now put together around the message JSON text
-- already printed for the first row instead of printing a second jsonb
-- holding it (same bytes; measured: one jsonb_build_object and one
-- jsonb-to-text of the whole message less per message).

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
    SELECT p_chat, v_seq, 'message.created', j.mj, j.id FROM j),
  o AS (
    INSERT INTO chat_outbox (chat_id, seq) VALUES (p_chat, v_seq))
  SELECT j.mj, to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
    INTO mj, ts FROM j;
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  -- chatd_envelope's text byte for byte (jsonb prints keys by length, then
  -- bytes: at, seq, data, kind, chatId) without printing mj a second time
  o_payload := '{"at": "' || ts || '", "seq": ' || v_seq || ', "data": ' || o_payload
               || ', "kind": "message.created", "chatId": "' || p_chat || '"}';
  o_chat := p_chat;
  o_seq := v_seq;
  RETURN NEXT;
END
$$;

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
      SELECT c, v_seq, 'message.created', j.mj, j.id FROM j),
    o AS (
      INSERT INTO chat_outbox (chat_id, seq) VALUES (c, v_seq))
    SELECT j.mj, to_char(j.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
      INTO mj, ts FROM j;
    o_payload := mj::text;
    RETURN NEXT;
    o_ch := 'chat:' || c;
    -- chatd_envelope's text byte for byte (see chatd_create_message_reply)
    o_payload := '{"at": "' || ts || '", "seq": ' || v_seq || ', "data": ' || o_payload
                 || ', "kind": "message.created", "chatId": "' || c || '"}';
    o_chat := c;
    o_seq := v_seq;
    RETURN NEXT;
  END LOOP;
END
$$;
