// Placeholder translation unit so the analyzer library exists before its first real source lands.
namespace aatune::analyzer {}
