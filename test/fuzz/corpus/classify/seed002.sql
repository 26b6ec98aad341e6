-- pgsplit:primary
SELECT 1