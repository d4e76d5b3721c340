-- 0010_attachments.sql — uploaded files and their attachment to messages
-- (issue 20, items 1 and 2). docs/api.md "Files" has the rules;
-- src/files/ the statements. The bytes live in the content-addressed store
-- (CHATD_FILES_DIR/<sha256[0:2]>/<sha256>), one copy per distinct content:
-- several rows may name the same sha256 (dedupe); the bytes are deleted when
-- the last row naming them is.

CREATE TABLE files (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id     uuid NOT NULL REFERENCES users (id),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL,
    size         bigint NOT NULL CHECK (size >= 0),
    width        integer,
    height       integer,
    has_thumb    boolean NOT NULL DEFAULT false,
    thumb_png    boolean NOT NULL DEFAULT false, -- the thumbnail is PNG (alpha), else JPEG
    name         text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    -- null until attached by createMessage; the message's removal deletes the row
    message_id   uuid REFERENCES messages (id),
    -- order of the attachments within their message
    position     smallint,
    -- its message was removed: never served again, swept with its bytes
    gone         boolean NOT NULL DEFAULT false
);
-- Message.attachments and removal with the message
CREATE INDEX files_message_idx ON files (message_id, position) WHERE message_id IS NOT NULL;
-- the sweeper: never-attached files past the grace period
CREATE INDEX files_unattached_idx ON files (created_at) WHERE message_id IS NULL;
-- the sweeper: files of removed messages
CREATE INDEX files_gone_idx ON files (id) WHERE gone;
-- the per-user quota
CREATE INDEX files_owner_idx ON files (owner_id);
-- is anyone else still naming these bytes?
CREATE INDEX files_sha_idx ON files (sha256);

-- A removed message's files are gone at once (downloads answer 404); the
-- sweeper deletes the rows, and the bytes nothing else names.
CREATE FUNCTION chatd_files_message_removed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  UPDATE files SET gone = true WHERE message_id = NEW.id;
  RETURN NULL;
END
$$;
CREATE TRIGGER messages_files_removed AFTER UPDATE OF deleted_at ON messages
  FOR EACH ROW WHEN (OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL)
  EXECUTE FUNCTION chatd_files_message_removed();

-- The attachments of a message as event/query JSON (same keys as the
-- GraphQL type, minus the per-viewer url/thumbnailUrl that the resolvers
-- add); [] when none.
CREATE FUNCTION chatd_attachments_json(p_message uuid) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT coalesce(jsonb_agg(jsonb_build_object(
           'id', f.id, 'contentType', f.content_type, 'size', f.size, 'name', f.name,
           'width', f.width, 'height', f.height, 'sha256', f.sha256, 'hasThumb', f.has_thumb)
         ORDER BY f.position), '[]'::jsonb)
  FROM files f WHERE f.message_id = p_message
$$;

-- Message JSON (queries and events) carries "attachments" when it has any
-- (removed messages never: their files are gone); other payloads unchanged.
CREATE OR REPLACE FUNCTION chatd_msg_json(m messages) RETURNS jsonb
LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'id', m.id, 'chatId', m.chat_id, 'senderId', m.sender_id, 'content', m.content,
    'type', m.type, 'metadata', m.metadata, 'seq', m.seq, 'isEdited', m.is_edited,
    'editedAt', chatd_ts(m.edited_at), 'createdAt', chatd_ts(m.created_at),
    'deletedAt', chatd_ts(m.deleted_at))
    || CASE WHEN m.reply_to_id IS NULL THEN '{}'::jsonb
            ELSE jsonb_build_object('replyToId', m.reply_to_id) END
    || CASE WHEN m.deleted_at IS NOT NULL
              OR NOT EXISTS (SELECT 1 FROM files f WHERE f.message_id = m.id) THEN '{}'::jsonb
            ELSE jsonb_build_object('attachments', chatd_attachments_json(m.id)) END
$$;

-- createMessage with attachments: chatd_create_message_reply (0009) plus
-- the files step. p_files: the sender's own files that are not attached
-- yet, at most 10, no duplicates; attached in the given order before the
-- payload is built, so the stored event and the live one carry them.
CREATE FUNCTION chatd_create_message_files(p_chat uuid, p_sender uuid, p_type text,
                                           p_content text, p_meta jsonb, p_client text,
                                           p_reply uuid, p_files uuid[])
RETURNS TABLE (o_ch text, o_payload text, o_chat uuid, o_seq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  c chats;
  m messages;
  mj jsonb;
  orig messages;
  f files;
  i int;
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
  IF cardinality(p_files) > 10 THEN
    RAISE EXCEPTION USING ERRCODE = 'CD400', MESSAGE = 'A message has at most 10 attachments';
  END IF;
  FOR i IN 1 .. coalesce(cardinality(p_files), 0) LOOP
    IF p_files[i] = ANY (p_files[1:i - 1]) THEN
      RAISE EXCEPTION USING ERRCODE = 'CD400',
        MESSAGE = format('Duplicate attachment id %s', p_files[i]);
    END IF;
    SELECT * INTO f FROM files WHERE id = p_files[i] FOR UPDATE;
    IF NOT FOUND OR f.owner_id IS DISTINCT FROM p_sender THEN
      RAISE EXCEPTION USING ERRCODE = 'CD404', MESSAGE = format('File %s not found', p_files[i]);
    END IF;
    IF f.message_id IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'CD400',
        MESSAGE = format('File %s is already attached to a message', p_files[i]);
    END IF;
  END LOOP;
  INSERT INTO messages (chat_id, seq, sender_id, type, content, metadata, client_id, reply_to_id)
  VALUES (p_chat, c.last_seq, p_sender, p_type, p_content, p_meta, p_client, p_reply)
  RETURNING * INTO m;
  UPDATE files SET message_id = m.id, position = x.n
    FROM unnest(p_files) WITH ORDINALITY AS x (id, n) WHERE files.id = x.id;
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
