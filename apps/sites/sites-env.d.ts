// Vite bundles the CSS a module imports; to the type checker it is a module with no exports.
declare module "*.css";
