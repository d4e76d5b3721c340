-- 0021_message_ids.sql — message ids are time-ordered UUIDs (version 7,
-- RFC 9562: 48-bit Unix milliseconds, then random bits), so a message's
-- INSERT lands on the right-hand edge of messages_pkey instead of a random
-- leaf (issue 14, the write path).
--
-- With random (version 4) ids every message touches a random leaf page of
-- messages_pkey: on a large table that is a page the buffer cache may not
-- hold, and after every checkpoint the first change to each page is a full
-- page image in the WAL. Measured on the test server with 1.2 million
-- messages stored, 16 clients at 1,000 createMessage/s for 15 s after a
-- CHECKPOINT, two alternated rounds each: 7,034 and 7,403 full-page images
-- and 62.6 / 64.7 MB of WAL per round with random ids, 1,256 and 2,137
-- images and 32.9 / 35.2 MB with these (send→deliver p99 did not move
-- beyond the machine's round-to-round spread). Flat out at 16 clients over
-- the same 1.2 million messages, four alternated 10 s rounds: 4,321
-- createMessage/s median with random ids, 4,736 with these (each round
-- higher). The id costs ~1 us more to
-- make (see the function): ~11k instructions per message in the callgrind harness of
-- 0019/0020, about 2% of the set path's work.
--
-- An id still reveals nothing its message's createdAt does not. Ids stored
-- before this migration keep their values; every id is an opaque string to
-- the API.

CREATE FUNCTION chatd_uuid7() RETURNS uuid
LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
  -- bytes 0-5: milliseconds since the epoch (big-endian); the rest from a
  -- version 4 UUID (its variant bits stay), version nibble 4 -> 7 (bits 52
  -- and 53 of the bytea are the 0x10 and 0x20 bits of byte 6). date_part's
  -- float8 (microseconds are exact at this epoch), not extract's numeric:
  -- 0.95 against 1.2 us per id over gen_random_uuid()'s own 2.3 (psql, 10^6 rows)
  SELECT encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid())
                  PLACING substring(int8send(floor(date_part('epoch', clock_timestamp()) * 1000)::bigint)
                                    FROM 3)
                  FROM 1 FOR 6), 52, 1), 53, 1), 'hex')::uuid
$$;

-- the single-message functions take the column's default
ALTER TABLE messages ALTER COLUMN id SET DEFAULT chatd_uuid7();

-- the group function (0020) names its ids itself: the same body with
-- chatd_uuid7() in place of gen_random_uuid(), taken from the catalog
-- rather than restated here (exactly one occurrence, or this fails)
DO $$
DECLARE
  def text := pg_get_functiondef(
    'chatd_create_messages(uuid[], uuid[], text[], text[], jsonb[], text[], uuid[])'::regprocedure);
  old text := 'gen_random_uuid() AS id';
BEGIN
  IF (length(def) - length(replace(def, old, ''))) / length(old) <> 1 THEN
    RAISE EXCEPTION '0021: chatd_create_messages does not name gen_random_uuid() AS id exactly once';
  END IF;
  EXECUTE replace(def, old, 'chatd_uuid7() AS id');
END
$$;
