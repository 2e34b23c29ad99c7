-- The frozen days of a read from p_from on, with the source of each freeze (starter, earned, granted): those
-- the walk stored before today (p_today is never missed yet: a walk past it, to a day covered ahead, may have
-- frozen it), and those since the last history day (the read's: progress_streak_state's frozen_since and
-- frozen_since_sources, p_since and p_since_sources). The one definition for the statistics and the explain.
CREATE OR REPLACE FUNCTION progress_frozen_days(p_user_id bigint, p_today date, p_since date[],
                                                p_since_sources text[], p_from date,
                                                OUT days date[], OUT sources text[])
LANGUAGE plpgsql STABLE AS $fn$
BEGIN
    SELECT coalesce(array_agg(f.day ORDER BY f.day), '{}'), coalesce(array_agg(f.source ORDER BY f.day), '{}')
      INTO days, sources
      FROM user_frozen_days f
     WHERE f.user_id = p_user_id AND f.day >= p_from AND f.day < p_today;
    days := days || p_since;
    sources := sources || p_since_sources;
END
$fn$;
