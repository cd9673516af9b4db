"""The retry policy of the tests that run many writers at once against the real registry.

Short waits keep a trial fast, but enough attempts matter: Debian's registry (distribution's
filesystem driver) truncates a link file before writing it, so a GET racing a PUT of the same
digest (20 releases all moving `latest` to one index) answers 500 "invalid checksum digest
format" for as long as those PUTs keep coming. Five attempts within 0.1 s lost one trial in a
suite run (the 500s lasted 0.2 s); eight with waits up to 0.2 s ride it out, as the CLI's
default (8, up to 10 s) does.
"""

from release_pipeline.registry.retries import RetryPolicy

RETRY = RetryPolicy(attempts=8, base_delay=0.01, max_delay=0.2)
