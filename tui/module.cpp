// Placeholder translation unit so the tui library exists before its first real source lands.
namespace aatune::tui {}
