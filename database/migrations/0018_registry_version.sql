-- journeygate store, version 18: a version number of the registry (docs/registry.md, "Registry
-- version"). Every statement that changes a row of `vehicles` or `consent_changes`, whoever
-- runs it (but see below), adds one to `registry_version.version` in its own transaction, so the new number
-- becomes visible with the rows it stands for, and concurrent writers take turns on the one row
-- (versions are committed in order). A reader that keeps registry rows (the journey processor)
-- reads the version before the rows, and reads them again once it moved.

CREATE TABLE registry_version (
    id      boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO registry_version (id, version) VALUES (true, 0);

-- A statement that changed no row (an upsert of what is there, ON CONFLICT DO NOTHING) leaves
-- the version alone: the transition table of the rows it touched is empty. So does a
-- transaction that set `journeygate.registry_version` to 'keep': the journey processor's
-- record of the consent changes it heard on vehicle.consent, which the states of the vehicles
-- they concern already hold (and which would otherwise wait for a long import's commit).
CREATE FUNCTION registry_rows_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('journeygate.registry_version', true) IS DISTINCT FROM 'keep'
       AND EXISTS (SELECT 1 FROM changed_rows) THEN
        UPDATE registry_version SET version = version + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION registry_truncated() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE registry_version SET version = version + 1;
    RETURN NULL;
END
$$;

-- On both tables: <table>_insert, _update, _delete (the rows touched, in a transition table)
-- and _truncate.
DO $$
DECLARE
    t text;
    event text;
BEGIN
    FOREACH t IN ARRAY ARRAY['vehicles', 'consent_changes'] LOOP
        FOREACH event IN ARRAY ARRAY['insert', 'update', 'delete'] LOOP
            EXECUTE format(
                'CREATE TRIGGER %I AFTER %s ON %I REFERENCING %s TABLE AS changed_rows'
                ' FOR EACH STATEMENT EXECUTE FUNCTION registry_rows_changed()',
                t || '_' || event, upper(event), t,
                CASE event WHEN 'delete' THEN 'OLD' ELSE 'NEW' END);
        END LOOP;
        EXECUTE format('CREATE TRIGGER %I AFTER TRUNCATE ON %I'
                       ' FOR EACH STATEMENT EXECUTE FUNCTION registry_truncated()',
                       t || '_truncate', t);
    END LOOP;
END
$$;
