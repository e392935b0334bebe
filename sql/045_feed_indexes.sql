-- Atom feeds (issue 14): the newest public changes first, for the whole country and
-- for one gmina (a powiat or województwo is a prefix of the gmina's TERYT), read in
-- the feeds' order instead of sorting every public report (111 ms → 9 ms for the
-- national feed at 283,000 reports).
CREATE INDEX reports_changed_desc_idx ON kmzb.reports (status_changed_at DESC, id DESC);
CREATE INDEX reports_gmina_changed_desc_idx
    ON kmzb.reports (gmina_teryt, status_changed_at DESC, id DESC);
