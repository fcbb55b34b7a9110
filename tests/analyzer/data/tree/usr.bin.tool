profile tool /usr/bin/tool flags=(complain) {
  /usr/bin/tool mr,
}
