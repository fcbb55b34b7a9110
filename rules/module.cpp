// Placeholder translation unit so the rules library exists before its first real source lands.
namespace aatune::rules {}
