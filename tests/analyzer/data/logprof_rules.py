#!/usr/bin/python3
# The peer's rule generation, non-interactively: python3-apparmor's own log parser
# (apparmor.logparser.ReadLog, which uses libapparmor) and its own rule builder
# (apparmor.aa.collapse_log), as aa-logprof runs them before asking its questions.
#
# Usage: logprof_rules.py LOGFILE...   Prints one line per proposed rule:
#   FILE<TAB>PROFILE<TAB>RULE
# where PROFILE is "profile" or "profile//hat" and RULE is the peer's clean rendering.
# aa-logprof asks exec and change_hat questions interactively, so it has no rule for those here.
# Every profile counts as existing (aa-logprof would otherwise drop the events of profiles it does
# not know), so the comparison sees every event.
import os
import sys

import apparmor.aa as aa
import apparmor.logparser as logparser


class AllProfilesExist:
    def filename_from_profile_name(self, name):
        return '/dev/null'


def main():
    for path in sys.argv[1:]:
        aa.aa = aa.hasher()
        reader = logparser.ReadLog(path, AllProfilesExist(), '/nonexistent')
        try:
            hashlog = reader.read_log('')
            log_dict = aa.collapse_log(hashlog)
        except Exception as e:  # the peer's own failures are part of the comparison
            first = (str(e).splitlines() or [''])[0]
            print('%s\tERROR\t%s: %s' % (os.path.basename(path), type(e).__name__, first))
            continue
        for aamode in sorted(log_dict):
            for profile in sorted(log_dict[aamode]):
                for hat in sorted(log_dict[aamode][profile]):
                    storage = log_dict[aamode][profile][hat]
                    name = profile if hat == profile else profile + '//' + hat
                    for kind in ('capability', 'change_profile', 'dbus', 'file', 'network',
                                 'ptrace', 'signal'):
                        for rule in storage[kind].rules:
                            print('%s\t%s\t%s' % (os.path.basename(path), name,
                                                  rule.get_clean(0).strip()))


if __name__ == '__main__':
    main()
