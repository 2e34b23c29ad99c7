-- The previous release's name, kept while a deploy replaces that code: the same as progress_archive_batch_v1.
CREATE OR REPLACE FUNCTION progress_archive_batch(p_cutoff timestamptz, p_batch_size integer) RETURNS bigint
LANGUAGE plpgsql AS $fn$
BEGIN
    RETURN progress_archive_batch_v1(p_cutoff, p_batch_size);
END
$fn$;
