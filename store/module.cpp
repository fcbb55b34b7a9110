// Placeholder translation unit so the store library exists before its first real source lands.
namespace aatune::store {}
