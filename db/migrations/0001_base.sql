-- 0001_base — shared building blocks for the tables that later migrations add.
--
-- Migrations are applied by src/store/migrate.c at process start, in file-name
-- order, each in its own transaction together with its schema_migrations row,
-- under a Postgres advisory lock (concurrent starters apply each file once).
-- Never edit an applied migration; add a new NNNN_name.sql instead.

COMMENT ON TABLE schema_migrations IS
  'chatd: versions (migration file names without .sql) applied by src/store/migrate.c';

-- Keeps an updated_at column current on UPDATE for tables that opt in with
--   CREATE TRIGGER <t>_touch BEFORE UPDATE ON <t>
--     FOR EACH ROW EXECUTE FUNCTION chatd_touch_updated_at();
CREATE OR REPLACE FUNCTION chatd_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;
