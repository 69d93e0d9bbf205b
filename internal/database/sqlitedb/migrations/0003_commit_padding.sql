-- A group of uploads whose numbers were all refused still commits, by
-- rewriting this one row with random bytes, so a refused upload waits for
-- the same fsyncs and checkpoint as a stored one and the answer's timing
-- does not tell them apart (docs/api.md, "Privacy").
CREATE TABLE commit_padding (
	id    INTEGER PRIMARY KEY CHECK (id = 1),
	noise BLOB    NOT NULL
);
INSERT INTO commit_padding (id, noise) VALUES (1, x'');
