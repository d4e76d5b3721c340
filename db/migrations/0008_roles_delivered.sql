-- 0008_roles_delivered.sql — chat roles and settings, delivered receipts,
-- server-written system messages and a persisted last-seen time (issue 19,
-- items 1, 5, 6, 9; docs/api.md "Roles and chat settings", "Delivered").
--
--  * chat_participants.role: 'owner' | 'admin' | 'member' (the API's
--    ChatRole OWNER/ADMIN/MEMBER). A group has exactly one active owner
--    (chat_participants_one_owner); direct chats have only members. Existing
--    groups: the creator is the owner, or — when the creator has left — the
--    oldest remaining member. A member who leaves or is removed is reset to
--    'member', so a re-added user starts as a member.
--  * Rules (checked here, under the chat's row lock, like every mutation):
--    owner and admins add and remove members and change the name and
--    description; only the owner removes the chat, changes roles and hands
--    over ownership (setParticipantRole(..., OWNER) demotes the old owner to
--    admin); admins cannot remove admins, nobody removes the owner; an owner
--    who leaves hands ownership to the oldest admin, else the oldest member.
--    In direct chats either member may rename or remove the chat; roles do
--    not apply. p_actor NULL (trust mode without an identity) skips the
--    role checks, as it skips the participant checks.
--  * Delivered receipts: chat_participants.last_delivered_seq, a watermark
--    moved by markChatAsDelivered (chatd_mark_delivered): monotonic, a mark
--    at or below greatest(last_delivered_seq, last_read_seq) changes nothing
--    and emits nothing; a mark that moves it takes a seq and emits ONE
--    `delivered` event {userId, upToSeq, deliveredAt}. A read implies
--    delivered: readers of the watermark use greatest(delivered, read), so
--    markChatAsRead needs no second write.
--  * System messages (type 'system', sender = the acting user) are written
--    here, in the same transaction as the change they describe and right
--    after its event (their own seq): joins, leaves and removals, renames
--    and description changes, role changes. Clients cannot post them.
--  * users.last_seen_at: when the user's last receiver connection on some
--    process ended (presence.c writes it, batched). While online, the API
--    answers the current time; after a receiver crash, Redis's last-seen key
--    (refreshed with the presence) answers until a later write.

ALTER TABLE chat_participants ADD COLUMN role text NOT NULL DEFAULT 'member'
  CONSTRAINT chat_participants_role CHECK (role IN ('owner', 'admin', 'member'));
ALTER TABLE chat_participants ADD COLUMN last_delivered_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN last_seen_at timestamptz;

UPDATE chat_participants p SET role = 'owner'
  FROM chats c
 WHERE c.id = p.chat_id AND c.chat_type = 'group' AND p.user_id = c.created_by
   AND p.left_seq IS NULL;
UPDATE chat_participants p SET role = 'owner'
  FROM (SELECT DISTINCT ON (q.chat_id) q.chat_id, q.user_id
          FROM chat_participants q JOIN chats c ON c.id = q.chat_id
         WHERE c.chat_type = 'group' AND q.left_seq IS NULL
           AND NOT EXISTS (SELECT 1 FROM chat_participants o
                            WHERE o.chat_id = q.chat_id AND o.role = 'owner'
                              AND o.left_seq IS NULL)
         ORDER BY q.chat_id, q.joined_seq, q.pos, q.user_id) x
 WHERE p.chat_id = x.chat_id AND p.user_id = x.user_id;

CREATE UNIQUE INDEX chat_participants_one_owner ON chat_participants (chat_id)
  WHERE role = 'owner' AND left_seq IS NULL;

-- ---- helpers ----

CREATE FUNCTION chatd_role_of(p_chat uuid, p_user uuid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT role FROM chat_participants
   WHERE chat_id = p_chat AND user_id = p_user AND left_seq IS NULL
$$;

-- CD403 unless p_actor holds one of p_roles in group chat c. Direct chats
-- and p_actor NULL pass (membership is checked by chatd_chat_lock).
CREATE FUNCTION chatd_need_role(c chats, p_actor uuid, p_roles text[], p_what text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  IF p_actor IS NULL OR c.chat_type = 'direct' THEN RETURN; END IF;
  IF coalesce(chatd_role_of(c.id, p_actor) = ANY (p_roles), false) THEN RETURN; END IF;
  RAISE EXCEPTION USING ERRCODE = 'CD403',
    MESSAGE = format('Forbidden: only the chat''s %s may %s',
                     CASE WHEN p_roles = '{owner}' THEN 'owner' ELSE 'owner or an admin' END,
                     p_what);
END
$$;

CREATE FUNCTION chatd_username(p_user uuid) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT username FROM users WHERE id = p_user), 'someone')
$$;

-- "a, b and 3 others" for at most 10 names of p_ids.
CREATE FUNCTION chatd_name_list(p_ids uuid[]) RETURNS text
LANGUAGE sql STABLE AS $$
  SELECT string_agg(chatd_username(x), ', ' ORDER BY o)
         || CASE WHEN cardinality(p_ids) > 10
                 THEN format(' and %s others', cardinality(p_ids) - 10) ELSE '' END
    FROM unnest(p_ids[1:10]) WITH ORDINALITY AS t(x, o)
$$;

-- Writes a system message into locked chat p_chat (its own seq, after the
-- change it describes) and returns its event envelope and seq; NULL
-- envelope when there is nobody to name as its sender.
CREATE FUNCTION chatd_system_message(p_chat uuid, p_sender uuid, p_content text, p_meta jsonb,
                                     OUT o_payload text, OUT o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
BEGIN
  IF p_sender IS NULL THEN RETURN; END IF;
  c := chatd_next_seq(p_chat);
  INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata)
  VALUES (p_chat, c.last_seq, p_sender, 'system', p_content, p_meta)
  RETURNING * INTO m;
  o_payload := chatd_emit(p_chat, c.last_seq, 'message.created', chatd_msg_json(m), m.id);
  o_seq := c.last_seq;
END
$$;

-- ---- createChat: the creator of a group is its owner ----

CREATE OR REPLACE FUNCTION chatd_create_chat(p_actor uuid, p_name text, p_desc text, p_type text,
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
  -- the owner: the creator, or (trust mode without an identity) the first listed
  INSERT INTO chat_participants (chat_id, user_id, pos, joined_seq, role)
  SELECT c.id, x, o::int, 0,
         CASE WHEN p_type = 'group' AND x = coalesce(p_actor, ids[1]) THEN 'owner' ELSE 'member' END
    FROM unnest(ids) WITH ORDINALITY AS t(x, o);
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

-- ---- addParticipants: owner and admins; a system message names them ----

CREATE OR REPLACE FUNCTION chatd_add_participants(p_actor uuid, p_chat uuid, p_ids uuid[],
                                                  p_max int)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  added uuid[];
  n_old int;
  cj jsonb;
  u uuid;
  r record;
  sm record;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'A direct chat has exactly two participants; create a group chat to add more';
  END IF;
  PERFORM chatd_need_role(c, p_actor, '{owner,admin}', 'add participants');
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
  n_old := c.member_count;
  IF n_old + cardinality(added) > p_max THEN
    PERFORM chatd_group_full(p_max, n_old, cardinality(added));
  END IF;
  UPDATE chats SET last_seq = last_seq + 1, member_count = member_count + cardinality(added),
                   updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
  INSERT INTO chat_participants (chat_id, user_id, pos, joined_seq)
  SELECT p_chat, x, o::int, c.last_seq FROM unnest(added) WITH ORDINALITY AS t(x, o)
  ON CONFLICT (chat_id, user_id) DO UPDATE
    SET pos = EXCLUDED.pos, joined_seq = EXCLUDED.joined_seq, left_seq = NULL,
        joined_at = now(), role = 'member';
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'participants.added',
                          jsonb_build_object('userIds', to_jsonb(added), 'chat', cj,
                                             'byUserId', p_actor), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  sm := chatd_system_message(p_chat, coalesce(p_actor, added[1]),
          CASE WHEN p_actor IS NULL THEN chatd_name_list(added) || ' joined'
               ELSE chatd_username(p_actor) || ' added ' || chatd_name_list(added) END,
          jsonb_build_object('event', 'participants.added', 'actorId', p_actor,
                             'userIds', to_jsonb(added)));
  IF sm.o_payload IS NOT NULL THEN
    o_payload := sm.o_payload;
    o_seq := sm.o_seq;
    RETURN NEXT;
  END IF;
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

-- ---- removeParticipant / leaveChat ----
-- Anyone may leave (p_user = p_actor); owner and admins remove members, only
-- the owner removes an admin, nobody removes the owner. An owner who leaves
-- hands ownership to the oldest admin, else the oldest member.
CREATE OR REPLACE FUNCTION chatd_remove_participant(p_actor uuid, p_chat uuid, p_user uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  r record;
  sm record;
  target_role text;
  actor_role text;
  heir uuid;
  leaving boolean := p_actor IS NOT DISTINCT FROM p_user;
  txt text;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'Participants of a direct chat cannot be removed; remove the chat instead';
  END IF;
  target_role := chatd_role_of(p_chat, p_user);
  IF p_actor IS NOT NULL AND NOT leaving THEN
    actor_role := chatd_role_of(p_chat, p_actor);
    IF actor_role NOT IN ('owner', 'admin') THEN
      RAISE EXCEPTION USING ERRCODE = 'CD403',
        MESSAGE = 'Forbidden: only the chat''s owner or an admin may remove other participants';
    END IF;
    IF target_role = 'owner' THEN
      RAISE EXCEPTION USING ERRCODE = 'CD403',
        MESSAGE = 'Forbidden: the chat''s owner cannot be removed (the owner may leave)';
    END IF;
    IF target_role = 'admin' AND actor_role <> 'owner' THEN
      RAISE EXCEPTION USING ERRCODE = 'CD403',
        MESSAGE = 'Forbidden: only the chat''s owner may remove an admin';
    END IF;
  END IF;
  IF target_role IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404',
      MESSAGE = format('User %s is not a participant of chat %s', p_user, p_chat);
  END IF;
  UPDATE chats SET last_seq = last_seq + 1, member_count = greatest(member_count - 1, 0),
                   updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
  UPDATE chat_participants SET left_seq = c.last_seq, role = 'member'
   WHERE chat_id = p_chat AND user_id = p_user;
  IF target_role = 'owner' THEN
    SELECT user_id INTO heir FROM chat_participants
     WHERE chat_id = p_chat AND left_seq IS NULL
     ORDER BY (role = 'admin') DESC, joined_seq, pos, user_id LIMIT 1;
    IF heir IS NOT NULL THEN
      UPDATE chat_participants SET role = 'owner' WHERE chat_id = p_chat AND user_id = heir;
    END IF;
  END IF;
  DELETE FROM unread_counts WHERE chat_id = p_chat AND user_id = p_user;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'participant.removed',
                          jsonb_build_object('userId', p_user, 'chat', cj, 'byUserId', p_actor,
                                             'newOwnerId', heir), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  txt := CASE WHEN leaving OR p_actor IS NULL THEN chatd_username(p_user) || ' left'
              ELSE chatd_username(p_actor) || ' removed ' || chatd_username(p_user) END;
  IF heir IS NOT NULL THEN txt := txt || '; ' || chatd_username(heir) || ' is now the owner'; END IF;
  sm := chatd_system_message(p_chat, coalesce(p_actor, p_user), txt,
          jsonb_build_object('event', CASE WHEN leaving THEN 'participant.left'
                                           ELSE 'participant.removed' END,
                             'actorId', p_actor, 'userId', p_user, 'newOwnerId', heir));
  o_payload := sm.o_payload;
  o_seq := sm.o_seq;
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
  ELSIF heir IS NOT NULL THEN -- large group: the new owner hears it
    o_ch := 'user:' || heir;
    o_payload := chatd_note(heir, p_chat, c.last_seq, 'chat.updated', cj);
    RETURN NEXT;
  END IF;
END
$$;

-- ---- removeChat: only the owner (direct chats: either member) ----

CREATE OR REPLACE FUNCTION chatd_remove_chat(p_actor uuid, p_chat uuid)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  r record;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  PERFORM chatd_need_role(c, p_actor, '{owner}', 'remove the chat');
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

-- ---- setParticipantRole: only the owner; OWNER hands over ownership ----

CREATE FUNCTION chatd_set_role(p_actor uuid, p_chat uuid, p_user uuid, p_role text)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  sm record;
  prev text;
  old_owner uuid;
  txt text;
BEGIN
  IF p_role IS NULL OR p_role NOT IN ('owner', 'admin', 'member') THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400', MESSAGE = 'role must be OWNER, ADMIN or MEMBER';
  END IF;
  c := chatd_chat_lock(p_chat, p_actor);
  IF c.chat_type = 'direct' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'A direct chat has no roles: both participants are members';
  END IF;
  PERFORM chatd_need_role(c, p_actor, '{owner}', 'change roles');
  prev := chatd_role_of(p_chat, p_user);
  IF prev IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'CD404',
      MESSAGE = format('User %s is not a participant of chat %s', p_user, p_chat);
  END IF;
  IF prev = p_role THEN -- nothing changes, no event
    o_payload := chatd_chat_json(c)::text;
    RETURN NEXT;
    RETURN;
  END IF;
  IF prev = 'owner' THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400',
      MESSAGE = 'The owner''s role changes only by making another participant the owner';
  END IF;
  c := chatd_next_seq(p_chat);
  IF p_role = 'owner' THEN
    UPDATE chat_participants SET role = 'admin'
     WHERE chat_id = p_chat AND role = 'owner' AND left_seq IS NULL
    RETURNING user_id INTO old_owner;
  END IF;
  UPDATE chat_participants SET role = p_role WHERE chat_id = p_chat AND user_id = p_user;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'participant.role',
                          jsonb_build_object('userId', p_user, 'role', upper(p_role),
                                             'previousRole', upper(prev), 'byUserId', p_actor,
                                             'previousOwnerId', old_owner, 'chat', cj), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  txt := coalesce(chatd_username(p_actor) || ' ', '')
         || CASE p_role WHEN 'owner' THEN 'made ' || chatd_username(p_user) || ' the owner'
                        WHEN 'admin' THEN 'made ' || chatd_username(p_user) || ' an admin'
                        ELSE 'made ' || chatd_username(p_user) || ' a member' END;
  IF p_actor IS NULL THEN txt := chatd_username(p_user) || ' is now ' || lower(p_role); END IF;
  sm := chatd_system_message(p_chat, coalesce(p_actor, p_user), txt,
          jsonb_build_object('event', 'participant.role', 'actorId', p_actor, 'userId', p_user,
                             'role', upper(p_role), 'previousRole', upper(prev)));
  o_payload := sm.o_payload;
  o_seq := sm.o_seq;
  RETURN NEXT;
  o_chat := NULL;
  o_seq := NULL;
  -- the participants whose myRole changed
  o_ch := 'user:' || p_user;
  o_payload := chatd_note(p_user, p_chat, c.last_seq, 'chat.updated', cj);
  RETURN NEXT;
  IF old_owner IS NOT NULL AND old_owner <> p_user THEN
    o_ch := 'user:' || old_owner;
    o_payload := chatd_note(old_owner, p_chat, c.last_seq, 'chat.updated', cj);
    RETURN NEXT;
  END IF;
END
$$;

-- ---- updateChat: name / description; owner and admins (direct: either) ----
-- p_name NULL keeps the name; p_desc_set false keeps the description (an
-- empty description clears it).
CREATE FUNCTION chatd_update_chat(p_actor uuid, p_chat uuid, p_name text, p_desc text,
                                  p_desc_set boolean)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  cj jsonb;
  r record;
  sm record;
  new_name text;
  new_desc text;
  renamed boolean;
  described boolean;
  changes jsonb := '{}';
  txt text;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  PERFORM chatd_need_role(c, p_actor, '{owner,admin}', 'change the chat''s name or description');
  new_name := coalesce(p_name, c.name);
  new_desc := CASE WHEN p_desc_set THEN nullif(p_desc, '') ELSE c.description END;
  renamed := new_name IS DISTINCT FROM c.name;
  described := new_desc IS DISTINCT FROM c.description;
  IF NOT renamed AND NOT described THEN -- nothing changes, no event
    o_payload := chatd_chat_json(c)::text;
    RETURN NEXT;
    RETURN;
  END IF;
  UPDATE chats SET name = new_name, description = new_desc, last_seq = last_seq + 1,
                   updated_at = now()
   WHERE id = p_chat RETURNING * INTO c;
  IF renamed THEN changes := changes || jsonb_build_object('name', new_name); END IF;
  IF described THEN changes := changes || jsonb_build_object('description', new_desc); END IF;
  cj := chatd_chat_json(c);
  o_payload := cj::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'chat.updated',
                          jsonb_build_object('chat', cj, 'userId', p_actor, 'changes', changes),
                          NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
  txt := coalesce(chatd_username(p_actor), 'someone')
         || CASE WHEN renamed THEN format(' renamed the chat to "%s"', new_name) ELSE '' END
         || CASE WHEN renamed AND described THEN ' and' ELSE '' END
         || CASE WHEN described THEN ' changed the description' ELSE '' END;
  sm := chatd_system_message(p_chat, coalesce(p_actor, c.created_by), txt,
          jsonb_build_object('event', 'chat.updated', 'actorId', p_actor, 'changes', changes));
  IF sm.o_payload IS NOT NULL THEN
    o_payload := sm.o_payload;
    o_seq := sm.o_seq;
    RETURN NEXT;
  END IF;
  o_chat := NULL;
  o_seq := NULL;
  IF c.member_count <= chatd_participant_ids_max() THEN -- chatUpdated(userId) of every member
    FOR r IN SELECT user_id FROM chat_participants
              WHERE chat_id = p_chat AND left_seq IS NULL LOOP
      o_ch := 'user:' || r.user_id;
      o_payload := chatd_note(r.user_id, p_chat, c.last_seq, 'chat.updated', cj);
      RETURN NEXT;
    END LOOP;
  END IF;
END
$$;

-- ---- markChatAsDelivered ----
-- Result {"deliveredSeq": n}: the caller's delivered watermark afterwards
-- (a read counts as delivered).
CREATE FUNCTION chatd_mark_delivered(p_actor uuid, p_chat uuid, p_upto bigint)
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  wm bigint;
  upto bigint;
BEGIN
  c := chatd_chat_lock(p_chat, p_actor);
  SELECT greatest(last_delivered_seq, last_read_seq) INTO wm FROM chat_participants
   WHERE chat_id = p_chat AND user_id = p_actor AND left_seq IS NULL;
  upto := least(p_upto, c.last_seq);
  IF wm IS NULL OR upto <= wm THEN -- already delivered up to there: no event
    o_payload := jsonb_build_object('deliveredSeq', coalesce(wm, 0))::text;
    RETURN NEXT;
    RETURN;
  END IF;
  c := chatd_next_seq(p_chat);
  UPDATE chat_participants SET last_delivered_seq = upto
   WHERE chat_id = p_chat AND user_id = p_actor;
  o_payload := jsonb_build_object('deliveredSeq', upto)::text;
  RETURN NEXT;
  o_ch := 'chat:' || p_chat;
  o_payload := chatd_emit(p_chat, c.last_seq, 'delivered',
                          jsonb_build_object('userId', p_actor, 'upToSeq', upto,
                                             'deliveredAt', chatd_ts(now())), NULL);
  o_chat := p_chat;
  o_seq := c.last_seq;
  RETURN NEXT;
END
$$;
