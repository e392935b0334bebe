-- Area safety summary (process area-safety): public threats of a gmina or a
-- powiat are found by a range of gmina codes (a powiat's gminy share its four
-- leading digits), so one btree range read serves both, at 5 million reports.
CREATE INDEX reports_gmina_created_idx ON kmzb.reports (gmina_teryt, created_at);
