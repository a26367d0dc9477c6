-- OpenSIPS 3.x active_watchers for PostgreSQL, with the version table it is
-- checked against.  As in OpenSIPS scripts/postgres/standard-create.sql
-- (version table: no id column, no row of its own) and
-- scripts/postgres/presence-create.sql (active_watchers; the version row
-- comes before the CREATE TABLE there), unchanged from 3.2.0 to 3.6.8.
-- OpenSIPS is not packaged in Debian 12; written from OpenSIPS 3.x scripts/postgres/presence-create.sql.
-- Load into an empty database: psql -v ON_ERROR_STOP=1 -f <this file>

CREATE TABLE version (
    table_name VARCHAR(32) NOT NULL,
    table_version INTEGER DEFAULT 0 NOT NULL,
    CONSTRAINT version_t_name_idx UNIQUE (table_name)
);

INSERT INTO version (table_name, table_version) values ('active_watchers','12');
CREATE TABLE active_watchers (
    id SERIAL PRIMARY KEY NOT NULL,
    presentity_uri VARCHAR(255) NOT NULL,
    watcher_username VARCHAR(64) NOT NULL,
    watcher_domain VARCHAR(64) NOT NULL,
    to_user VARCHAR(64) NOT NULL,
    to_domain VARCHAR(64) NOT NULL,
    event VARCHAR(64) DEFAULT 'presence' NOT NULL,
    event_id VARCHAR(64),
    to_tag VARCHAR(64) NOT NULL,
    from_tag VARCHAR(64) NOT NULL,
    callid VARCHAR(64) NOT NULL,
    local_cseq INTEGER NOT NULL,
    remote_cseq INTEGER NOT NULL,
    contact VARCHAR(255) NOT NULL,
    record_route TEXT,
    expires INTEGER NOT NULL,
    status INTEGER DEFAULT 2 NOT NULL,
    reason VARCHAR(64),
    version INTEGER DEFAULT 0 NOT NULL,
    socket_info VARCHAR(64) NOT NULL,
    local_contact VARCHAR(255) NOT NULL,
    sharing_tag VARCHAR(32) DEFAULT NULL,
    CONSTRAINT active_watchers_active_watchers_idx UNIQUE (presentity_uri, callid, to_tag, from_tag)
);

ALTER SEQUENCE active_watchers_id_seq MAXVALUE 2147483647 CYCLE;
