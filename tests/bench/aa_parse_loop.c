/* The libapparmor baseline for the parser benchmark: libapparmor 3.0.8's parse_record() over every
 * line of a log that contains "apparmor=", which is the best case for it (a cheap substring check
 * skips the noise, as aa-logprof's callers do). It is C because aalogparse.h cannot be included
 * from C++ (a struct member is named `namespace`).
 *
 * Usage: aa_parse_loop [--print-accepted] FILE
 * Prints one line: lines=N candidates=N invalid=N error=N audit=N allowed=N denied=N hint=N
 * status=N other=N
 * With --print-accepted it prints instead the lines libapparmor accepted (event not INVALID): the
 * bench times it again on those, because a record it rejects early is cheaper than a real parse.
 */
#define _GNU_SOURCE
#include <aalogparse/aalogparse.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  int print_accepted = argc == 3 && strcmp(argv[1], "--print-accepted") == 0;
  if (argc != 2 + print_accepted) {
    fprintf(stderr, "usage: %s [--print-accepted] FILE\n", argv[0]);
    return 2;
  }
  const char* path = argv[argc - 1];
  FILE* in = fopen(path, "r");
  if (in == NULL) {
    fprintf(stderr, "aa_parse_loop: %s: %s\n", path, strerror(errno));
    return 2;
  }
  /* Indexed by aa_record_event_type (AA_RECORD_INVALID .. AA_RECORD_STATUS); the last slot
   * catches values a newer libapparmor might add. */
  unsigned long long by_event[8] = {0};
  unsigned long long lines = 0;
  unsigned long long candidates = 0;
  char* line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, in)) > 0) {
    ++lines;
    if (line[len - 1] == '\n') line[len - 1] = '\0';
    if (strstr(line, "apparmor=") == NULL) continue;
    ++candidates;
    aa_log_record* record = parse_record(line);
    if (record == NULL) {
      ++by_event[AA_RECORD_INVALID];
      continue;
    }
    unsigned event = (unsigned)record->event;
    if (print_accepted && record->event != AA_RECORD_INVALID) puts(line);
    ++by_event[event <= AA_RECORD_STATUS ? event : 7];
    free_record(record);
  }
  int failed = ferror(in);
  free(line);
  fclose(in);
  if (failed) {
    fprintf(stderr, "aa_parse_loop: %s: read error\n", path);
    return 2;
  }
  if (print_accepted) return 0;
  printf(
      "lines=%llu candidates=%llu invalid=%llu error=%llu audit=%llu allowed=%llu denied=%llu "
      "hint=%llu status=%llu other=%llu\n",
      lines, candidates, by_event[AA_RECORD_INVALID], by_event[AA_RECORD_ERROR],
      by_event[AA_RECORD_AUDIT], by_event[AA_RECORD_ALLOWED], by_event[AA_RECORD_DENIED],
      by_event[AA_RECORD_HINT], by_event[AA_RECORD_STATUS], by_event[7]);
  return 0;
}
