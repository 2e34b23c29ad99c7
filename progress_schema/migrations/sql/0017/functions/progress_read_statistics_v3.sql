-- GET /progress/statistics as the release before 0017 reads it (its code calls v3 while a deploy is under
-- way): progress_read_statistics_v4's document with the daily series as rows ([date, attempts, correct,
-- covered, kind, goal_met] per day) instead of by column. One implementation: v4's.
CREATE OR REPLACE FUNCTION progress_read_statistics_v3(p_user_id bigint, p_now timestamptz, p_days integer)
RETURNS text
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    document jsonb := progress_read_statistics_v4(p_user_id, p_now, p_days)::jsonb;
    series jsonb := document -> 'daily';
BEGIN
    RETURN jsonb_set(document, ARRAY['daily'], (
        SELECT coalesce(jsonb_agg(jsonb_build_array(
                   (series ->> 'from')::date + i, series -> 'attempts' -> i, series -> 'correct' -> i,
                   series -> 'covered' -> i, series -> 'kind' -> i, series -> 'goal_met' -> i) ORDER BY i), '[]')
          FROM generate_series(0, jsonb_array_length(series -> 'attempts') - 1) AS i))::text;
END
$fn$;
