-- The frozen days of a read from p_from on, with the source of each freeze (starter, earned, granted): those
-- the walk stored before today (today is never missed yet: a walk past it, to a day covered ahead, may have
-- frozen it), and those since the last history day (the read's, p_streak of progress_streak_now:
-- frozen_since and frozen_since_sources). The one definition for the statistics and the explain.
CREATE OR REPLACE FUNCTION progress_frozen_days(p_user_id bigint, p_streak json, p_from date,
                                                OUT days date[], OUT sources text[])
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    today date := (p_streak ->> 'today')::date;
BEGIN
    SELECT coalesce(array_agg(f.day ORDER BY f.day), '{}'), coalesce(array_agg(f.source ORDER BY f.day), '{}')
      INTO days, sources
      FROM user_frozen_days f
     WHERE f.user_id = p_user_id AND f.day >= p_from AND f.day < today;
    days := days || ARRAY(SELECT json_array_elements_text(p_streak -> 'frozen_since'))::date[];
    sources := sources || ARRAY(SELECT json_array_elements_text(p_streak -> 'frozen_since_sources'));
END
$fn$;
