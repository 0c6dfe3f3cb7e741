-- 0010: the language each user chose for the web pages (en, th, lo); none until
-- they choose, when the browser's Accept-Language decides.
ALTER TABLE users ADD COLUMN lang TEXT;
