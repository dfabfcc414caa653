-- Every derived row carries the (block_number, log_index) of the event that wrote it, so that a
-- reorg rolls back with one DELETE per table and any past block can be read ("as of" queries).

CREATE TABLE blocks (
  number      BIGINT UNSIGNED NOT NULL PRIMARY KEY,
  hash        CHAR(66) NOT NULL,
  parent_hash CHAR(66) NOT NULL
);

-- One row: the last block whose events are all applied. Written in the same transaction as them.
CREATE TABLE index_cursor (
  id           TINYINT UNSIGNED NOT NULL PRIMARY KEY,
  block_number BIGINT UNSIGNED NOT NULL,
  block_hash   CHAR(66) NOT NULL
);

CREATE TABLE events (
  block_number BIGINT UNSIGNED NOT NULL,
  log_index    INT UNSIGNED NOT NULL,
  block_hash   CHAR(66) NOT NULL,
  tx_hash      CHAR(66) NOT NULL,
  address      CHAR(42) NOT NULL,
  kind         VARCHAR(40) NOT NULL,
  topics       TEXT NOT NULL,
  data         MEDIUMTEXT NOT NULL,
  PRIMARY KEY (block_number, log_index)
);

CREATE TABLE players (
  address      CHAR(42) NOT NULL PRIMARY KEY,
  block_number BIGINT UNSIGNED NOT NULL,
  log_index    INT UNSIGNED NOT NULL,
  KEY (block_number)
);

CREATE TABLE robot_versions (
  robot_id     BIGINT UNSIGNED NOT NULL,
  block_number BIGINT UNSIGNED NOT NULL,
  log_index    INT UNSIGNED NOT NULL,
  owner        CHAR(42) NOT NULL,
  xp           BIGINT UNSIGNED NOT NULL,
  level        TINYINT UNSIGNED NOT NULL,
  class        TINYINT UNSIGNED NOT NULL,
  affiliation  TINYINT UNSIGNED NOT NULL,
  base         TEXT NOT NULL,
  final_stats  TEXT NOT NULL,
  equipped     TEXT NOT NULL,
  PRIMARY KEY (robot_id, block_number, log_index),
  KEY (block_number),
  KEY (owner)
);

CREATE TABLE item_versions (
  item_id           BIGINT UNSIGNED NOT NULL,
  block_number      BIGINT UNSIGNED NOT NULL,
  log_index         INT UNSIGNED NOT NULL,
  owner             CHAR(42) NOT NULL,
  item_type         TINYINT UNSIGNED NOT NULL,
  rarity            TINYINT UNSIGNED NOT NULL,
  item_condition    TINYINT UNSIGNED NOT NULL,
  boosts            TEXT NOT NULL,
  class_affinities  SMALLINT UNSIGNED NOT NULL,
  trait_affiliation TINYINT UNSIGNED NOT NULL,
  equipped_on       BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (item_id, block_number, log_index),
  KEY (block_number),
  KEY (owner)
);

CREATE TABLE balance_versions (
  address      CHAR(42) NOT NULL,
  block_number BIGINT UNSIGNED NOT NULL,
  log_index    INT UNSIGNED NOT NULL,
  balance      VARCHAR(80) NOT NULL,
  PRIMARY KEY (address, block_number, log_index),
  KEY (block_number)
);
