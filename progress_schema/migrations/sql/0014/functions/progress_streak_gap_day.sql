-- One day without history after a day of a living run (docs/streaks.md, step 2): 'rest' (a rest weekday
-- of the settings in force that day bridges), 'frozen' (a held freeze is set aside for it) or 'missed'.
-- Before rules_start neither rest days nor freezes existed. p_rest_from/p_rest_masks: the learner's
-- settings versions (effective_from, rest weekday mask), oldest first.
CREATE OR REPLACE FUNCTION progress_streak_gap_day(
    p_day date, p_rules_start date, p_rest_from date[], p_rest_masks integer[], p_freezes text[]
) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $fn$
BEGIN
    IF p_day < p_rules_start THEN
        RETURN 'missed';
    ELSIF progress_rest_day(p_day, p_rest_from, p_rest_masks) THEN
        RETURN 'rest';
    ELSIF cardinality(p_freezes) > 0 THEN
        RETURN 'frozen';
    END IF;
    RETURN 'missed';
END
$fn$;
