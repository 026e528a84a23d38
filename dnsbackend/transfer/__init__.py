"""Zone transfers out (AXFR, IXFR from the journal) and who may have them; beside query/."""
