// The build copies node_modules/uplot/dist/uPlot.esm.js next to the page's modules (no CDN); this
// declaration gives that copy the package's own types.
import uPlot from "uplot";
export default uPlot;
