/** Types of scripts/layers.mjs, for test/unit/architecture.test.ts (the script itself stays plain JS). */
export declare const LAYERS: Readonly<Record<string, number>>;
export declare function importsOf(text: string): string[];
export declare function importGraph(srcDir: string): Map<string, string[]>;
export declare function domainOf(rel: string): string;
export declare function checkLayers(srcDir: string): string[];
