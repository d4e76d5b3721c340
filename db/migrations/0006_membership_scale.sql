-- 0006_membership_scale.sql — membership changes cost O(changed members),
-- not O(group) (issue 14, item 4; docs/architecture.md "Large groups").
--
--  * chats.member_count counts the active participants; the membership
--    functions keep it under the chat's row lock, so the group-size limit
--    (CHATD_MAX_GROUP_MEMBERS, passed as p_max) is checked without counting.
--  * participantIds in the Chat JSON (results, events, notifications,
--    queries) lists at most chatd_participant_ids_max() members — the first
--    ones in join order, read through chat_participants_order_idx — and
--    memberCount gives the real size; Chat.members pages through all of them.
--  * Groups of at most chatd_participant_ids_max() members behave exactly as
--    before: every earlier member gets a chat.updated notification on
--    user:<id> when someone joins or leaves. Above it those per-member
--    notifications stop (they would make each change O(group)); members
--    follow the chat's own participants.added / participant.removed events
--    (chat:<id>, chatEvents, the seed-003 /ws room). chat.added to the
--    newcomers and chat.removed to the removed user are unchanged.
--  * addParticipants no longer reads the whole member list: new members are
--    deduplicated and checked with primary-key probes, their pos restarts at
--    1 for each join seq (order is (joined_seq, pos)).

ALTER TABLE chats ADD COLUMN member_count int NOT NULL DEFAULT 0;
UPDATE chats c SET member_count = (SELECT count(*) FROM chat_participants p
                                    WHERE p.chat_id = c.id AND p.left_seq IS NULL);

-- members in join order (participantIds, Chat.members keyset pages)
CREATE INDEX chat_participants_order_idx
    ON chat_participants (chat_id, joined_seq, pos, user_id) WHERE left_seq IS NULL;

-- RECV_PARTICIPANT_IDS_MAX in src/chat/chat_internal.h names the same bound.
CREATE FUNCTION chatd_participant_ids_max() RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT 256 $$;

CREATE OR REPLACE FUNCTION chatd_chat_json(c chats) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', c.id, 'name', c.name, 'description', c.description, 'chatType', c.chat_type,
    'participantIds', coalesce((SELECT jsonb_agg(x.user_id ORDER BY x.joined_seq, x.pos, x.user_id)
                                  FROM (SELECT p.user_id, p.joined_seq, p.pos
                                          FROM chat_participants p
                                         WHERE p.chat_id = c.id AND p.left_seq IS NULL
                                         ORDER BY p.joined_seq, p.pos, p.user_id
                                         LIMIT chatd_participant_ids_max()) x), '[]'::jsonb),
    'memberCount', c.member_count,
    'isActive', c.is_active, 'createdAt', chatd_ts(c.created_at),
    'updatedAt', chatd_ts(c.updated_at), 'lastSeq', c.last_seq)
$$;

CREATE FUNCTION chatd_group_full(p_max int, p_have int, p_adding int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'CD400',
    MESSAGE = format('A group chat has at most %s members (it has %s; adding %s would exceed it)',
                     p_max, p_have, p_adding);
END
$$;

DROP FUNCTION chatd_create_chat(uuid, text, text, text, uuid[]);
CREATE FUNCTION chatd_create_chat(p_actor uuid, p_name text, p_desc text, p_type text,
                                  p_ids uuid[], p_max int)
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
  IF cardinality(ids) > p_max THEN
    PERFORM chatd_group_full(p_max, 0, cardinality(ids));
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
  INSERT INTO chats (name, description, chat_type, created_by, direct_key, member_count)
  VALUES (p_name, p_desc, p_type, p_actor, key, cardinality(ids))
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

DROP FUNCTION chatd_add_participants(uuid, uuid, uuid[]);
CREATE FUNCTION chatd_add_participants(p_actor uuid, p_chat uuid, p_ids uuid[], p_max int)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  added uuid[];
  n_old int;
  cj jsonb;
  u uuid;
  r record;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'A direct chat has exactly two participants; create a group chat to add more';
  END IF;
  PERFORM chatd_need_users(p_ids);
  -- the newcomers, deduplicated, in the order given: one PK probe each
  SELECT coalesce(array_agg(x ORDER BY o), '{}') INTO added
    FROM (SELECT x, min(o) AS o FROM unnest(p_ids) WITH ORDINALITY AS t(x, o) GROUP BY x) d
   WHERE NOT EXISTS (SELECT 1 FROM chat_participants p
                      WHERE p.chat_id = p_chat AND p.user_id = d.x AND p.left_seq IS NULL);
  IF cardinality(added) = 0 THEN -- already members: nothing changes, no event
    o_payload := chatd_chat_json(c)::text;
    RETURN NEXT;
    RETURN;
  END IF;
  n_old := c.member_count;
  IF n_old + cardinality(added) > p_max THEN
    PERFORM chatd_group_full(p_max, n_old, cardinality(added));
  END IF;
  -- the row is locked and live (chatd_chat_lock): next seq and size in one update
  UPDATE chats SET last_seq = last_seq + 1, member_count = member_count + cardinality(added),
                   updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
  INSERT INTO chat_participants (chat_id, user_id, pos, joined_seq)
  SELECT p_chat, x, o::int, c.last_seq FROM unnest(added) WITH ORDINALITY AS t(x, o)
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
  IF n_old <= chatd_participant_ids_max() THEN -- small group: earlier members hear it too
    FOR r IN SELECT p.user_id FROM chat_participants p
              WHERE p.chat_id = p_chat AND p.left_seq IS NULL AND p.joined_seq < c.last_seq
              ORDER BY p.joined_seq, p.pos LOOP
      o_ch := 'user:' || r.user_id;
      o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'chat.updated', cj);
      RETURN NEXT;
    END LOOP;
  END IF;
END
$$;

-- A participant may remove themselves (leave); the chat's creator may remove
-- anyone. p_actor NULL (trust mode without an identity) skips the checks.
CREATE OR REPLACE FUNCTION chatd_remove_participant(p_actor uuid, p_chat uuid, p_user uuid)
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
  UPDATE chats SET last_seq = last_seq + 1, member_count = greatest(member_count - 1, 0),
                   updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
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
  IF c.member_count <= chatd_participant_ids_max() THEN -- small group: the rest hear it too
    FOR r IN SELECT user_id FROM chat_participants
              WHERE chat_id = p_chat AND left_seq IS NULL LOOP
      o_ch := 'user:' || r.user_id;
      o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'chat.updated', cj);
      RETURN NEXT;
    END LOOP;
  END IF;
END
$$;
