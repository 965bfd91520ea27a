-- head: the record as (*gitops.Server).AppendJSONHead encodes it, written
-- by the writer in the same statement as the row's columns. The store keeps
-- every head in memory to answer reads without encoding, and loads them at
-- start from this column instead of decoding and encoding every row.
--
-- NULL means "not known": rows written before this migration, and rows a
-- writer that does not know the column updated (the trigger below, for a
-- binary downgraded after this migration ran). Open encodes such heads
-- again from the row's columns. The meta key 'head_format' names the
-- encoding the stored heads were written in; Open re-encodes them all when
-- the running binary writes another.
ALTER TABLE servers ADD COLUMN head BLOB;

CREATE TRIGGER servers_head_unknown AFTER UPDATE ON servers
WHEN NEW.head IS OLD.head AND NEW.head IS NOT NULL
BEGIN
    UPDATE servers SET head = NULL WHERE rowid = NEW.rowid;
END;
