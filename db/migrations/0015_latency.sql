-- 0015_latency.sql — the search index's pending list is merged in the
-- background, not inside a message's INSERT (issue 14, send→deliver latency).
--
-- messages_search_idx (0009) is a GIN index with fastupdate on (the
-- default): an INSERT appends the message's words to the index's pending
-- list, which is cheap, and the INSERT that finds the list above
-- gin_pending_list_limit (4 MB by default) merges the whole list into the
-- index itself, inside its own transaction — while its group holds its
-- chats' row locks. Measured on the test server, one row per statement: the
-- row that crosses 4 MB took 200–250 ms with one-word contents (every
-- ~116,000 rows) and 70–100 ms with twelve-word contents (every ~17,500
-- rows) — at 1,000 messages/s a stall of every message behind it several
-- times a minute. fastupdate off has no such stall but costs each INSERT
-- about three times the index work with repeated words; a smaller
-- gin_pending_list_limit only makes the stall shorter and more frequent.
--
-- Instead the senders merge the pending list every sweeper tick
-- (SENDER_SEARCH_FLUSH_EVERY, src/chat/outbox.c) by calling this function:
-- the list then holds about a second of messages and is merged on a pool
-- connection that no request waits for. An INSERT that still finds the list
-- full (a sender without this tick, a burst above the merge rate) merges it
-- as before, and an INSERT never waits for a merge in progress (Postgres
-- skips its own merge when another session holds the list). One merge at a
-- time over all senders (a transaction-level advisory lock): the others
-- skip their tick. Returns the pending-list pages merged, or -1 when it
-- skipped (another merge running, or no such index).

CREATE FUNCTION chatd_search_pending_flush() RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  idx regclass := to_regclass('messages_search_idx');
BEGIN
  IF idx IS NULL OR NOT pg_try_advisory_xact_lock(hashtext('chatd.search_pending_flush')) THEN
    RETURN -1;
  END IF;
  RETURN gin_clean_pending_list(idx);
END
$$;
