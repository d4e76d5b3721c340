-- 0003_chats.sql — chats, participants, messages, read receipts, unread
-- counts and the per-chat event log (sender role, src/chat/sender.c; the
-- receiver reads these tables). Contract: docs/parts/events.md.
--
-- Invariants:
--  * Every change of a chat runs in ONE transaction that first takes the
--    chat's row lock (UPDATE chats SET last_seq = last_seq + 1 ... or SELECT
--    ... FOR UPDATE): writers of one chat are serialised, so each event gets
--    the next seq with no gap and no duplicate, and the unread counters can be
--    maintained with single UPDATE statements that read a stable state.
--  * chat_events is the per-chat log AND the outbox: a row is inserted with
--    published_at NULL in the writing transaction; the sender publishes it
--    after COMMIT and marks it; the sweeper (src/chat/sweeper.c) republishes
--    rows still unpublished after sweep_after (a lease, pushed forward each
--    time a sweeper claims the row).
--  * unread_counts(c, u) = messages of c with seq > greatest(last_read_seq,
--    joined_seq) of u, sender <> u, deleted_at IS NULL, type <> 'system'
--    (design §5); a row exists exactly for the active participants.
--  * Removing a message clears its content and metadata in messages and in
--    every chat_events payload that carried it.
--
-- The mutations are plpgsql functions (one round trip each, run as prepared
-- statements). Each returns rows (o_ch, o_payload, o_chat, o_seq): the row
-- with o_ch NULL is the mutation's result (JSON text); every other row is a
-- Redis publication: channel o_ch, message o_payload; rows of the chat
-- channel also carry (o_chat, o_seq) for marking the event published.
-- Errors are raised with SQLSTATE class CD: CD400 bad input, CD403
-- forbidden, CD404 not found, CD410 chat removed.

CREATE TABLE chats (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name         text NOT NULL,
    description  text,
    chat_type    text NOT NULL DEFAULT 'group',
    is_active    boolean NOT NULL DEFAULT true,
    created_by   uuid REFERENCES users (id),
    direct_key   text,
    last_seq     bigint NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    deleted_at   timestamptz,
    CONSTRAINT chats_type CHECK (chat_type IN ('direct', 'group'))
);
-- one live direct chat per pair of users
CREATE UNIQUE INDEX chats_direct_key ON chats (direct_key) WHERE direct_key IS NOT NULL AND is_active;

CREATE TABLE chat_participants (
    chat_id       uuid NOT NULL REFERENCES chats (id),
    user_id       uuid NOT NULL REFERENCES users (id),
    pos           int NOT NULL DEFAULT 0,      -- order within participantIds
    joined_seq    bigint NOT NULL DEFAULT 0,   -- chat seq at which they joined
    left_seq      bigint,                      -- set when removed
    last_read_seq bigint NOT NULL DEFAULT 0,   -- read watermark
    joined_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (chat_id, user_id)
);
-- chats by participant (chatsByParticipant, chats)
CREATE INDEX chat_participants_user_idx ON chat_participants (user_id, chat_id) WHERE left_seq IS NULL;

CREATE TABLE messages (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id     uuid NOT NULL REFERENCES chats (id),
    seq         bigint NOT NULL,
    sender_id   uuid NOT NULL REFERENCES users (id),
    type        text NOT NULL DEFAULT 'text',
    content     text NOT NULL,
    metadata    jsonb,
    client_id   text,
    is_edited   boolean NOT NULL DEFAULT false,
    edited_at   timestamptz,
    deleted_at  timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- history by (chat_id, seq); also serves the unread recount range scan
    CONSTRAINT messages_chat_seq UNIQUE (chat_id, seq),
    -- a retried send with the same clientId is stored once
    CONSTRAINT messages_client_id UNIQUE (chat_id, sender_id, client_id)
);

CREATE TABLE message_reads (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    message_id  uuid NOT NULL REFERENCES messages (id),
    user_id     uuid NOT NULL REFERENCES users (id),
    read_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT message_reads_once UNIQUE (message_id, user_id)
);

CREATE TABLE unread_counts (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    chat_id      uuid NOT NULL REFERENCES chats (id),
    user_id      uuid NOT NULL REFERENCES users (id),
    unread_count int NOT NULL DEFAULT 0,
    seq          bigint NOT NULL DEFAULT 0,   -- chat seq this count reflects
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unread_counts_once UNIQUE (chat_id, user_id),
    CONSTRAINT unread_counts_nonneg CHECK (unread_count >= 0)
);
-- unreadCounts(userId)
CREATE INDEX unread_counts_user_idx ON unread_counts (user_id);

CREATE TABLE chat_events (
    chat_id      uuid NOT NULL REFERENCES chats (id),
    seq          bigint NOT NULL,
    kind         text NOT NULL,
    payload      jsonb NOT NULL,
    message_id   uuid,                        -- for clearing a removed message
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz,                 -- NULL: publish not confirmed
    sweep_after  timestamptz NOT NULL DEFAULT now() + interval '2 seconds',
    PRIMARY KEY (chat_id, seq)
);
CREATE INDEX chat_events_unpublished_idx ON chat_events (sweep_after) WHERE published_at IS NULL;
CREATE INDEX chat_events_message_idx ON chat_events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX chat_events_created_idx ON chat_events (created_at);

-- ---- JSON shapes (docs/parts/events.md) ----

CREATE FUNCTION chatd_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION chatd_chat_json(c chats) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', c.id, 'name', c.name, 'description', c.description, 'chatType', c.chat_type,
    'participantIds', coalesce((SELECT jsonb_agg(p.user_id ORDER BY p.joined_seq, p.pos)
                                  FROM chat_participants p
                                 WHERE p.chat_id = c.id AND p.left_seq IS NULL), '[]'::jsonb),
    'isActive', c.is_active, 'createdAt', chatd_ts(c.created_at),
    'updatedAt', chatd_ts(c.updated_at), 'lastSeq', c.last_seq)
$$;

CREATE FUNCTION chatd_msg_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'content', m.content,
    'type', m.type, 'metadata', m.metadata, 'seq', m.seq, 'isEdited', m.is_edited,
    'editedAt', chatd_ts(m.edited_at), 'createdAt', chatd_ts(m.created_at),
    'deletedAt', chatd_ts(m.deleted_at))
$$;

-- The Redis message of a chat event, from its log row (live and sweeper).
CREATE FUNCTION chatd_envelope(p_chat uuid, p_seq bigint, p_kind text, p_at timestamptz,
                               p_data jsonb) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('chatId', p_chat, 'seq', p_seq, 'kind', p_kind,
                            'at', chatd_ts(p_at), 'data', p_data)::text
$$;

-- A per-user notification (channel user:<id>).
CREATE FUNCTION chatd_note(p_user uuid, p_chat uuid, p_seq bigint, p_kind text, p_data jsonb)
RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object('userId', p_user, 'chatId', p_chat, 'seq', p_seq, 'kind', p_kind,
                            'data', p_data)::text
$$;

CREATE FUNCTION chatd_unread_json(p_chat uuid, p_user uuid, p_count int, p_seq bigint)
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object('chatId', p_chat, 'userId', p_user, 'unreadCount', p_count,
                            'seq', p_seq)
$$;

-- Appends the chat event (seq already taken) and returns its envelope.
CREATE FUNCTION chatd_emit(p_chat uuid, p_seq bigint, p_kind text, p_data jsonb,
                           p_msg uuid) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO chat_events (chat_id, seq, kind, payload, message_id)
  VALUES (p_chat, p_seq, p_kind, p_data, p_msg);
  RETURN chatd_envelope(p_chat, p_seq, p_kind, now(), p_data);
END
$$;

-- ---- checks (raise CD4xx) ----

CREATE FUNCTION chatd_chat_missing(p_chat uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM chats WHERE id = p_chat) THEN
    RAISE EXCEPTION USING ERRCODE = 'CD410', MESSAGE = format('Chat %s was removed', p_chat);
  END IF;
  RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Chat %s not found', p_chat);
END
$$;

CREATE FUNCTION chatd_need_member(p_chat uuid, p_user uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_user IS NOT NULL AND NOT EXISTS (SELECT 1 FROM chat_participants
       WHERE chat_id = p_chat AND user_id = p_user AND left_seq IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = 'CD403',
      MESSAGE = format('Forbidden: user %s is not a participant of chat %s', p_user, p_chat);
  END IF;
END
$$;

-- Locks a live chat without taking a seq; raises CD404/CD410/CD403.
CREATE FUNCTION chatd_chat_lock(p_chat uuid, p_actor uuid) RETURNS chats
LANGUAGE plpgsql AS $$
DECLARE c chats;
BEGIN
  SELECT * INTO c FROM chats WHERE id = p_chat AND is_active FOR UPDATE;
  IF NOT FOUND THEN PERFORM chatd_chat_missing(p_chat); END IF;
  PERFORM chatd_need_member(p_chat, p_actor);
  RETURN c;
END
$$;

-- Takes the next seq of a locked (or about to be locked) live chat.
CREATE FUNCTION chatd_next_seq(p_chat uuid) RETURNS chats
LANGUAGE plpgsql AS $$
DECLARE c chats;
BEGIN
  UPDATE chats SET last_seq = last_seq + 1, updated_at = now()
   WHERE id = p_chat AND is_active RETURNING * INTO c;
  IF NOT FOUND THEN PERFORM chatd_chat_missing(p_chat); END IF;
  RETURN c;
END
$$;

CREATE FUNCTION chatd_need_users(p_ids uuid[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE missing uuid;
BEGIN
  SELECT u INTO missing FROM unnest(p_ids) u
   WHERE NOT EXISTS (SELECT 1 FROM users WHERE id = u AND is_active) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('User %s not found', missing);
  END IF;
END
$$;

-- ---- mutations ----

CREATE FUNCTION chatd_create_chat(p_actor uuid, p_name text, p_desc text, p_type text,
                                  p_ids uuid[])
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  ids uuid[];
  key text;
  c chats;
  cj jsonb;
  u uuid;
BEGIN
  SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO ids
    FROM (SELECT x, min(o) AS o FROM unnest(p_ids) WITH ORDINALITY AS t(x, o) GROUP BY x) d;
  IF cardinality(ids) = 0 THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400', MESSAGE = 'participantIds must not be empty';
  END IF;
  PERFORM chatd_need_users(ids);
  IF p_type = 'direct' THEN
    IF cardinality(ids) <> 2 THEN
      RAISE EXCEPTION USING ERRCODE = 'CD400',
        MESSAGE = 'A direct chat has exactly two distinct participants';
    END IF;
    key := least(ids[1]::text, ids[2]::text) || ':' || greatest(ids[1]::text, ids[2]::text);
    SELECT * INTO c FROM chats WHERE direct_key = key AND is_active;
    IF FOUND THEN
      o_payload := chatd_chat_json(c)::text;
      RETURN NEXT;
      RETURN;
    END IF;
  END IF;
  INSERT INTO chats (name, description, chat_type, created_by, direct_key)
  VALUES (p_name, p_desc, p_type, p_actor, key)
  ON CONFLICT (direct_key) WHERE direct_key IS NOT NULL AND is_active DO NOTHING
  RETURNING * INTO c;
  IF NOT FOUND THEN -- a concurrent createChat made the same direct chat
    SELECT * INTO c FROM chats WHERE direct_key = key AND is_active;
    o_payload := chatd_chat_json(c)::text;
    RETURN NEXT;
    RETURN;
  END IF;
  INSERT INTO chat_participants (chat_id, user_id, pos, joined_seq)
  SELECT c.id, x, o::int, 0 FROM unnest(ids) WITH ORDINALITY AS t(x, o);
  INSERT INTO unread_counts (chat_id, user_id) SELECT c.id, x FROM unnest(ids) x;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  FOREACH u IN ARRAY ids LOOP
    o_ch := 'user:' || u;
    o_payload := chatd_note(u, c.id, 0, 'chat.added', cj);
    RETURN NEXT;
  END LOOP;
END
$$;

CREATE FUNCTION chatd_add_participants(p_actor uuid, p_chat uuid, p_ids uuid[])
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  added uuid[];
  old uuid[];
  base int;
  cj jsonb;
  u uuid;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'A direct chat has exactly two participants; create a group chat to add more';
  END IF;
  PERFORM chatd_need_users(p_ids);
  SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO added
    FROM (SELECT x, min(o) AS o FROM unnest(p_ids) WITH ORDINALITY AS t(x, o) GROUP BY x) d
   WHERE NOT EXISTS (SELECT 1 FROM chat_participants p
                      WHERE p.chat_id = p_chat AND p.user_id = d.x AND p.left_seq IS NULL);
  IF cardinality(added) = 0 THEN -- already members: nothing changes, no event
    o_payload := chatd_chat_json(c)::text;
    RETURN NEXT;
    RETURN;
  END IF;
  SELECT coalesce(array_agg(user_id), '{}'), coalesce(max(pos), 0) INTO old, base
    FROM chat_participants WHERE chat_id = p_chat AND left_seq IS NULL;
  c := chatd_next_seq(p_chat);
  INSERT INTO chat_participants (chat_id, user_id, pos, joined_seq)
  SELECT p_chat, x, base + o::int, c.last_seq FROM unnest(added) WITH ORDINALITY AS t(x, o)
  ON CONFLICT (chat_id, user_id) DO UPDATE
    SET pos = EXCLUDED.pos, joined_seq = EXCLUDED.joined_seq, left_seq = NULL,
        joined_at = now();
  INSERT INTO unread_counts (chat_id, user_id, seq)
  SELECT p_chat, x, c.last_seq FROM unnest(added) x
  ON CONFLICT (chat_id, user_id) DO UPDATE
    SET unread_count = 0, seq = EXCLUDED.seq, updated_at = now();
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'participants.added',
                          jsonb_build_object('userIds', to_jsonb(added), 'chat', cj), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  FOREACH u IN ARRAY added LOOP
    o_ch := 'user:' || u;
    o_payload := chatd_note(u, p_chat, c.last_seq, 'chat.added', cj);
    RETURN NEXT;
  END LOOP;
  FOREACH u IN ARRAY old LOOP
    o_ch := 'user:' || u;
    o_payload := chatd_note(u, p_chat, c.last_seq, 'chat.updated', cj);
    RETURN NEXT;
  END LOOP;
END
$$;

-- A participant may remove themselves (leave); the chat's creator may remove
-- anyone. p_actor NULL (trust mode without an identity) skips the checks.
CREATE FUNCTION chatd_remove_participant(p_actor uuid, p_chat uuid, p_user uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  r record;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'Participants of a direct chat cannot be removed; remove the chat instead';
  END IF;
  IF p_actor IS NOT NULL AND p_actor <> p_user AND c.created_by IS DISTINCT FROM p_actor THEN
    RAISE EXCEPTION USING ERRCODE = 'CD403',
      MESSAGE = 'Forbidden: only the chat''s creator may remove other participants';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM chat_participants
                  WHERE chat_id = p_chat AND user_id = p_user AND left_seq IS NULL) THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404',
      MESSAGE = format('User %s is not a participant of chat %s', p_user, p_chat);
  END IF;
  c := chatd_next_seq(p_chat);
  UPDATE chat_participants SET left_seq = c.last_seq WHERE chat_id = p_chat AND user_id = p_user;
  DELETE FROM unread_counts WHERE chat_id = p_chat AND user_id = p_user;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'participant.removed',
                          jsonb_build_object('userId', p_user, 'chat', cj), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  o_ch := 'user:' || p_user;
  o_payload := chatd_note(p_user, p_chat, c.last_seq, 'chat.removed', cj);
  RETURN NEXT;
  FOR r IN SELECT user_id FROM chat_participants WHERE chat_id = p_chat AND left_seq IS NULL LOOP
    o_ch := 'user:' || r.user_id;
    o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'chat.updated', cj);
    RETURN NEXT;
  END LOOP;
END
$$;

CREATE FUNCTION chatd_remove_chat(p_actor uuid, p_chat uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  r record;
BEGIN
  PERFORM chatd_chat_lock(p_chat, p_actor);
  c := chatd_next_seq(p_chat);
  UPDATE chats SET is_active = false, deleted_at = now(), updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'chat.removed', jsonb_build_object('chat', cj), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  FOR r IN SELECT user_id FROM chat_participants WHERE chat_id = p_chat AND left_seq IS NULL LOOP
    o_ch := 'user:' || r.user_id;
    o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'chat.removed', cj);
    RETURN NEXT;
  END LOOP;
END
$$;

-- The hot path. A retry with a clientId already stored returns the stored
-- message and changes nothing; two concurrent first sends of one clientId
-- collide on messages_client_id (23505) and the loser's whole transaction
-- rolls back (its seq included), so the caller re-runs it once and gets the
-- stored message.
CREATE FUNCTION chatd_create_message(p_chat uuid, p_sender uuid, p_type text, p_content text,
                                     p_meta jsonb, p_client text)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  r record;
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
  o_chat := NULL;
  o_seq := NULL;
  IF p_type <> 'system' THEN
    FOR r IN UPDATE unread_counts SET unread_count = unread_count + 1, seq = c.last_seq,
                                      updated_at = now()
              WHERE chat_id = p_chat AND user_id <> p_sender
          RETURNING user_id, unread_count LOOP
      o_ch := 'user:' || r.user_id;
      o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'unread',
                              chatd_unread_json(p_chat, r.user_id, r.unread_count, c.last_seq));
      RETURN NEXT;
    END LOOP;
  END IF;
  FOR r IN SELECT user_id FROM chat_participants WHERE chat_id = p_chat AND left_seq IS NULL LOOP
    o_ch := 'user:' || r.user_id;
    o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'preview', mj);
    RETURN NEXT;
  END LOOP;
END
$$;

-- Looks up a live message for its author (CD404 / CD403), locks its chat
-- and takes the next seq, then re-reads the message under that lock (a
-- concurrent removal committed before we got the lock is seen here).
CREATE FUNCTION chatd_message_for_author(p_id uuid, p_actor uuid, p_what text,
                                         OUT c chats, OUT m messages)
LANGUAGE plpgsql AS $$
BEGIN
  SELECT * INTO m FROM messages WHERE id = p_id AND deleted_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Message %s not found', p_id);
  END IF;
  IF p_actor IS NOT NULL AND m.sender_id <> p_actor THEN
    RAISE EXCEPTION USING ERRCODE = 'CD403',
      MESSAGE = format('Forbidden: only the author may %s a message', p_what);
  END IF;
  c := chatd_next_seq(m.chat_id);
  PERFORM chatd_need_member(m.chat_id, m.sender_id);
  SELECT * INTO m FROM messages WHERE id = p_id AND deleted_at IS NULL;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('Message %s not found', p_id);
  END IF;
END
$$;

CREATE FUNCTION chatd_update_message(p_id uuid, p_actor uuid, p_content text)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  x record;
BEGIN
  SELECT * INTO x FROM chatd_message_for_author(p_id, p_actor, 'edit');
  c := x.c;
  m := x.m;
  UPDATE messages SET content = p_content, is_edited = true, edited_at = now()
   WHERE id = p_id RETURNING * INTO m;
  mj := chatd_msg_json(m);
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || m.chat_id;
  o_payload := chatd_emit(m.chat_id, c.last_seq, 'message.updated', mj, m.id);
  o_chat := m.chat_id;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

CREATE FUNCTION chatd_remove_message(p_id uuid, p_actor uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  r record;
  x record;
BEGIN
  SELECT * INTO x FROM chatd_message_for_author(p_id, p_actor, 'remove');
  c := x.c;
  m := x.m;
  IF m.type <> 'system' THEN
    FOR r IN UPDATE unread_counts uc SET unread_count = uc.unread_count - 1, seq = c.last_seq,
                                         updated_at = now()
               FROM chat_participants p
              WHERE uc.chat_id = m.chat_id AND p.chat_id = m.chat_id AND p.user_id = uc.user_id
                AND p.left_seq IS NULL AND uc.user_id <> m.sender_id
                AND m.seq > greatest(p.last_read_seq, p.joined_seq)
          RETURNING uc.user_id, uc.unread_count LOOP
      o_ch := 'user:' || r.user_id;
      o_payload := chatd_note(r.user_id, m.chat_id, c.last_seq, 'unread',
                              chatd_unread_json(m.chat_id, r.user_id, r.unread_count, c.last_seq));
      RETURN NEXT;
    END LOOP;
  END IF;
  UPDATE messages SET content = '', metadata = NULL, deleted_at = now()
   WHERE id = p_id RETURNING * INTO m;
  mj := chatd_msg_json(m);
  -- nothing of the content survives in the log either
  UPDATE chat_events SET payload = mj
   WHERE message_id = p_id AND kind IN ('message.created', 'message.updated');
  o_ch := NULL;
  o_payload := mj::text;
  RETURN NEXT;
  o_ch := 'chat:' || m.chat_id;
  o_payload := chatd_emit(m.chat_id, c.last_seq, 'message.deleted', mj, m.id);
  o_chat := m.chat_id;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;

-- Read marks (watermark model). markMessageAsRead: p_msg set, records the
-- receipt and moves the watermark to the message's seq; markChatAsRead:
-- p_chat set, moves it to p_upto (NULL = the chat's last seq). Only a mark
-- that moves the watermark takes a seq and emits ONE 'read' event. Result:
-- the MessageRead object, or the caller's unread count as {"unreadCount":n}.
CREATE FUNCTION chatd_mark_read(p_actor uuid, p_chat uuid, p_msg uuid, p_upto bigint)
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
      SELECT unread_count INTO n FROM unread_counts WHERE chat_id = chat AND user_id = p_actor;
      result := jsonb_build_object('unreadCount', coalesce(n, 0));
    END IF;
    o_payload := result::text;
    RETURN NEXT;
    RETURN;
  END IF;
  c := chatd_next_seq(chat);
  UPDATE chat_participants SET last_read_seq = upto WHERE chat_id = chat AND user_id = p_actor;
  UPDATE unread_counts uc SET unread_count = (
           SELECT count(*) FROM messages x, chat_participants p
            WHERE p.chat_id = chat AND p.user_id = p_actor
              AND x.chat_id = chat AND x.seq > greatest(p.last_read_seq, p.joined_seq)
              AND x.sender_id <> p_actor AND x.deleted_at IS NULL AND x.type <> 'system'),
         seq = c.last_seq, updated_at = now()
   WHERE uc.chat_id = chat AND uc.user_id = p_actor
  RETURNING unread_count INTO n;
  IF result IS NULL THEN result := jsonb_build_object('unreadCount', coalesce(n, 0)); END IF;
  o_payload := result::text;
  RETURN NEXT;
  o_ch := 'chat:' || chat;
  o_payload := chatd_emit(chat, c.last_seq, 'read',
                          jsonb_build_object('userId', p_actor, 'upToSeq', upto,
                                             'readAt', chatd_ts(now())), NULL);
  o_chat := chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  o_ch := 'user:' || p_actor;
  o_payload := chatd_note(p_actor, chat, c.last_seq, 'unread',
                          chatd_unread_json(chat, p_actor, coalesce(n, 0), c.last_seq));
  RETURN NEXT;
END
$$;

-- setTyping: the caller must be a participant of a live chat.
CREATE FUNCTION chatd_typing_check(p_actor uuid, p_chat uuid) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM chats WHERE id = p_chat AND is_active) THEN
    PERFORM chatd_chat_missing(p_chat);
  END IF;
  PERFORM chatd_need_member(p_chat, p_actor);
  RETURN true;
END
$$;
