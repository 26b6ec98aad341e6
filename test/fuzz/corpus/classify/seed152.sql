SELECT E'a'
-- c
'\'; DELETE FROM t; --'