-- Argentine national holidays (feriados nacionales) and the días no
-- laborables con fines turísticos ("puentes") of 2025, 2026 and 2027, on the
-- day they are actually observed. Shops are closed on every row here unless
-- the owner opens that day (shop_open_days); availability asks
-- booking_holidays_closed_days (services/booking/holidays.c).
--
-- Sources:
--   Ley 27.399 (feriados nacionales): which days are inamovibles and which
--     trasladables. Art. 6: a trasladable falling on Tuesday or Wednesday
--     moves to the previous Monday, on Thursday or Friday to the next Monday.
--     Art. 7: the executive fixes up to three non-working tourist days a
--     year, on Mondays or Fridays.
--   Decreto 1027/2024 (B.O. 2024-11-21): puentes 2025 = May 2, Aug 15, Nov 21.
--   Decreto 614/2025 (B.O. 2025-08-28): a trasladable falling on Saturday or
--     Sunday may be moved to the Friday before or the Monday after, as the
--     Jefatura de Gabinete (JGM) decides; it also makes the JGM the
--     authority that fixes the puentes.
--   Resolución JGM 139/2025 (B.O. 2025-09-01): Oct 12, 2025 (Sunday) moved to
--     Friday Oct 10.
--   Resolución JGM 164/2025 (B.O. 2025-12-26): puentes 2026 = Mar 23, Jul 10,
--     Dec 7.
--   Carnaval (Monday and Tuesday, 48 and 47 days before Easter) and Viernes
--     Santo from the Easter dates 2025-04-20, 2026-04-05, 2027-03-28.
--   Trasladables of 2026 and 2027 not moved by a decree we could find are on
--     the day art. 6 gives; 2026-11-20 (a Friday) is on Monday Nov 23 by that
--     rule.
--
-- Left out on purpose: Jueves Santo (a día no laborable the employer may
-- keep or not; shops stay open), and provincial, municipal and religious
-- days of particular faiths.
--
-- 2027: no puentes had been fixed in anything we could find when this file
-- was written, and 2027-11-20 (a Saturday) may yet be moved under Decreto
-- 614/2025. An admin adds what gets decreed at runtime (POST /api/holidays,
-- booking_holidays_add), with the decree as source.
--
-- Adding a year: a new migration file (migrations/booking/NNNN_holidays_YYYY.sql)
-- with its INSERTs and sources in this same shape; never edit this one, it is
-- already applied wherever the suite runs.

CREATE TABLE holidays (
    day date PRIMARY KEY,
    name text NOT NULL CHECK (octet_length(name) BETWEEN 1 AND 200),
    -- no_laborable: an optional day (like Jueves Santo) that does not close
    -- shops; kept for completeness when an admin wants to record one.
    kind text NOT NULL CHECK (kind IN ('inamovible', 'trasladable', 'puente', 'no_laborable')),
    original_day date,                 -- the legal date of a trasladable observed on another day
    source text NOT NULL CHECK (octet_length(source) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by uuid,                   -- the admin (auth.users id) who added it; NULL: this file
    CHECK (original_day IS NULL OR kind = 'trasladable')
);

-- An owner opens the shop on a day that is otherwise closed by a holiday.
CREATE TABLE shop_open_days (
    shop_id uuid NOT NULL REFERENCES shops (id) ON DELETE CASCADE,
    day date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (shop_id, day)
);

INSERT INTO holidays (day, name, kind, original_day, source) VALUES
    -- 2025 (19 days)
    ('2025-01-01', 'Año Nuevo', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-03-03', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-03-04', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-03-24', 'Día Nacional de la Memoria por la Verdad y la Justicia', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-04-02', 'Día del Veterano y de los Caídos en la Guerra de Malvinas', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-04-18', 'Viernes Santo', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-05-01', 'Día del Trabajador', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-05-02', 'Día no laborable con fines turísticos', 'puente', NULL, 'Decreto 1027/2024'),
    ('2025-05-25', 'Día de la Revolución de Mayo', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-06-16', 'Paso a la Inmortalidad del General Don Martín Miguel de Güemes', 'trasladable', '2025-06-17', 'Ley 27.399 art. 6'),
    ('2025-06-20', 'Paso a la Inmortalidad del General Don Manuel Belgrano', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-07-09', 'Día de la Independencia', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-08-15', 'Día no laborable con fines turísticos', 'puente', NULL, 'Decreto 1027/2024'),
    ('2025-08-17', 'Paso a la Inmortalidad del General Don José de San Martín', 'trasladable', NULL, 'Ley 27.399'),
    ('2025-10-10', 'Día del Respeto a la Diversidad Cultural', 'trasladable', '2025-10-12', 'Resolución JGM 139/2025 (Decreto 614/2025)'),
    ('2025-11-21', 'Día no laborable con fines turísticos', 'puente', NULL, 'Decreto 1027/2024'),
    ('2025-11-24', 'Día de la Soberanía Nacional', 'trasladable', '2025-11-20', 'Ley 27.399 art. 6'),
    ('2025-12-08', 'Día de la Inmaculada Concepción de María', 'inamovible', NULL, 'Ley 27.399'),
    ('2025-12-25', 'Navidad', 'inamovible', NULL, 'Ley 27.399'),
    -- 2026 (19 days; Apr 2 is both Malvinas and Jueves Santo)
    ('2026-01-01', 'Año Nuevo', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-02-16', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-02-17', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-03-23', 'Día no laborable con fines turísticos', 'puente', NULL, 'Resolución JGM 164/2025'),
    ('2026-03-24', 'Día Nacional de la Memoria por la Verdad y la Justicia', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-04-02', 'Día del Veterano y de los Caídos en la Guerra de Malvinas', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-04-03', 'Viernes Santo', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-05-01', 'Día del Trabajador', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-05-25', 'Día de la Revolución de Mayo', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-06-15', 'Paso a la Inmortalidad del General Don Martín Miguel de Güemes', 'trasladable', '2026-06-17', 'Ley 27.399 art. 6'),
    ('2026-06-20', 'Paso a la Inmortalidad del General Don Manuel Belgrano', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-07-09', 'Día de la Independencia', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-07-10', 'Día no laborable con fines turísticos', 'puente', NULL, 'Resolución JGM 164/2025'),
    ('2026-08-17', 'Paso a la Inmortalidad del General Don José de San Martín', 'trasladable', NULL, 'Ley 27.399'),
    ('2026-10-12', 'Día del Respeto a la Diversidad Cultural', 'trasladable', NULL, 'Ley 27.399'),
    ('2026-11-23', 'Día de la Soberanía Nacional', 'trasladable', '2026-11-20', 'Ley 27.399 art. 6'),
    ('2026-12-07', 'Día no laborable con fines turísticos', 'puente', NULL, 'Resolución JGM 164/2025'),
    ('2026-12-08', 'Día de la Inmaculada Concepción de María', 'inamovible', NULL, 'Ley 27.399'),
    ('2026-12-25', 'Navidad', 'inamovible', NULL, 'Ley 27.399'),
    -- 2027 (16 days; puentes not yet fixed, see above)
    ('2027-01-01', 'Año Nuevo', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-02-08', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-02-09', 'Carnaval', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-03-24', 'Día Nacional de la Memoria por la Verdad y la Justicia', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-03-26', 'Viernes Santo', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-04-02', 'Día del Veterano y de los Caídos en la Guerra de Malvinas', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-05-01', 'Día del Trabajador', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-05-25', 'Día de la Revolución de Mayo', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-06-20', 'Paso a la Inmortalidad del General Don Manuel Belgrano', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-06-21', 'Paso a la Inmortalidad del General Don Martín Miguel de Güemes', 'trasladable', '2027-06-17', 'Ley 27.399 art. 6'),
    ('2027-07-09', 'Día de la Independencia', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-08-16', 'Paso a la Inmortalidad del General Don José de San Martín', 'trasladable', '2027-08-17', 'Ley 27.399 art. 6'),
    ('2027-10-11', 'Día del Respeto a la Diversidad Cultural', 'trasladable', '2027-10-12', 'Ley 27.399 art. 6'),
    ('2027-11-20', 'Día de la Soberanía Nacional', 'trasladable', NULL, 'Ley 27.399'),
    ('2027-12-08', 'Día de la Inmaculada Concepción de María', 'inamovible', NULL, 'Ley 27.399'),
    ('2027-12-25', 'Navidad', 'inamovible', NULL, 'Ley 27.399');
